"""``zoo serve``: the playground page, onnxruntime-web and every entry's export on a local HTTP server.

Standard library only (``http.server``), bound to 127.0.0.1 unless ``--host`` says otherwise.
Every URL maps to an allow-listed file (``zoo.web.site_files``); nothing else on disk is
reachable. Ctrl-C stops it: the CLI turns SIGINT into KeyboardInterrupt, which ends
``serve_forever`` here, and ``serve`` returns 130 (143 for SIGTERM) with one line said.
"""

from __future__ import annotations

import errno
import http.server
import json
import os
import shutil
import socket
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from zoo.web import site_files
from zoo.web.site_files import ServeError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".json": "application/json", ".wasm": "application/wasm", ".png": "image/png",
                 ".onnx": "application/octet-stream", ".pb": "application/octet-stream"}
# Scripts and data from this server only; 'wasm-unsafe-eval' lets onnxruntime compile its .wasm.
CSP = ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; style-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass
class Reply:
    """What one request gets: a status, a content type, and a file or bytes."""

    status: int
    content_type: str
    body: bytes = b""
    path: Path | None = None


@dataclass
class Site:
    """Where the served files come from; ``requests`` keeps the paths last asked for (the tests read it)."""

    out: Path | None
    ort: Path
    data_dir: str | Path | None = None
    reference: Path | None = None  # None: the reference sets the plugins ship (zoo's own among them)
    requests: deque[str] = field(default_factory=lambda: deque(maxlen=10_000))

    def folders(self) -> dict[str, Path]:
        """Every entry's export folder, looked up afresh so that new runs show on reload."""
        return site_files.export_folders(self.out, self.reference)

    def reply(self, url: str) -> Reply:
        """The reply for a GET of ``url`` (a path, maybe with a query)."""
        path = unquote(urlsplit(url).path)
        self.requests.append(path)
        if path in ("/", "/index.html"):
            return _file(site_files.page_file("index.html"))
        if path.startswith("/page/"):
            return _file(site_files.page_file(path.removeprefix("/page/")))
        if path.startswith("/ort/") and path.removeprefix("/ort/") in site_files.ORT_FILES:
            return _file(self.ort / path.removeprefix("/ort/"))
        if path == "/entries.json":
            return _json(200, site_files.entry_index(self.folders(), self.out, self.reference))
        if path.startswith("/entries/") and path.count("/") >= 3:
            name, relative = path.removeprefix("/entries/").split("/", 1)
            folders = self.folders()
            if relative == "test-points.json" and name in folders:
                return self._points(folders[name])
            return _file(site_files.entry_file(folders, name, relative))
        return _file(None)

    def _points(self, folder: Path) -> Reply:
        from zoo.web.curve_points import curve_points
        from zoo.errors import ZooError

        try:
            return _json(200, curve_points(folder, self.data_dir))
        except ZooError as exc:  # e.g. the dataset is not on this machine: the page says so
            return _json(404, {"error": str(exc)})


def _file(path: Path | None) -> Reply:
    if path is None:
        return _json(404, {"error": "not found"})
    return Reply(200, CONTENT_TYPES.get(path.suffix, "application/octet-stream"), path=path)


def _json(status: int, value: Any) -> Reply:
    return Reply(status, CONTENT_TYPES[".json"], json.dumps(value).encode())


def handler_for(site: Site) -> type[http.server.BaseHTTPRequestHandler]:
    """A request handler class that answers from ``site``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "zoo-serve"

        def do_GET(self) -> None:
            self._send(site.reply(self.path), body=True)

        def do_HEAD(self) -> None:
            self._send(site.reply(self.path), body=False)

        def _send(self, reply: Reply, body: bool) -> None:
            source = None
            if reply.path is not None:
                try:
                    source = reply.path.open("rb")
                except OSError:  # removed between the lookup and now
                    reply = _json(404, {"error": "not found"})
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(os.fstat(source.fileno()).st_size if source else len(reply.body)))
                self.send_header("Cache-Control", "no-cache")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Content-Security-Policy", CSP)
                self.end_headers()
                if body and source:
                    shutil.copyfileobj(source, self.wfile)
                elif body:
                    self.wfile.write(reply.body)
            finally:
                if source:
                    source.close()

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # a quiet server: a line per request would bury the one line that matters

    return Handler


class Server(http.server.ThreadingHTTPServer):
    """The threading HTTP server, quiet about browsers that hang up mid-reply (e.g. on reload)."""

    daemon_threads = True
    allow_reuse_port = False  # never share a port with another server (newer Pythons default to sharing)

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            print(f"zoo serve: error answering {client_address[0]}: {type(error).__name__}: {error}", file=sys.stderr)


class Server6(Server):
    address_family = socket.AF_INET6


def make_server(site: Site, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> Server:
    """A bound (not yet serving) HTTP server for ``site``; ServeError, one line, when it cannot bind."""
    try:
        return (Server6 if ":" in host else Server)((host, port), handler_for(site))
    except OSError as exc:
        raise ServeError(_bind_problem(exc, host, port)) from None


def _bind_problem(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is already in use (another program, or another 'zoo serve'); "
                f"stop that one or choose another port, e.g. 'zoo serve --port {port + 1 if port < 65535 else 8000}'")
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port} (ports below 1024 need root); choose another with --port"
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host!r}: not an address of this machine; use --host 127.0.0.1"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --host or --port"


def serve(out: Path | None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          data_dir: str | Path | None = None) -> int:
    """Serve the playground until Ctrl-C; returns the exit code (130 after Ctrl-C, 143 after SIGTERM)."""
    site = Site(out, site_files.ort_folder(), data_dir)
    folders = site.folders()
    if not folders:
        raise ServeError(f"no ONNX exports in {out} or in any plugin's reference set; run 'zoo run NAME' first")
    server = make_server(site, host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"zoo: playground at http://{shown}:{server.server_address[1]}/ (Ctrl-C stops it)", flush=True)
    runs = sum(site_files.from_runs(folder, out) for folder in folders.values())
    print(f"zoo: {len(folders)} entries: {runs} from your runs in {out}, {len(folders) - runs} from the plugins' "
          "reference sets", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"zoo: note: listening on {host}, so other machines that can reach it can open the page",
              file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt as exc:
        from zoo.interrupts import Terminated

        print("zoo: playground stopped", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        server.server_close()
    return 0
