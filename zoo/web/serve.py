"""``zoo serve``: the playground and the inference API (Open Inference Protocol v2) on one local port.

uvicorn runs ``zoo.web.app``'s Starlette app on a socket bound here (so a port in use is one line before
anything starts), with ``zoo.web.protocol``'s request deadline, a cap on concurrent connections and a long
listen backlog; loopback only unless ``--host`` says otherwise, and only Host headers naming this server
answered. Ctrl-C or SIGTERM: uvicorn stops gracefully, then re-raises the signal, which the CLI turns into
KeyboardInterrupt (``zoo.interrupts.Terminated`` for SIGTERM), so ``serve`` returns 130 or 143.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from zoo.exports.manifest import END_TO_END_FILE
from zoo.web import site_files
from zoo.web.site import Site  # the playground's URL map (tests and docs build servers from it)
from zoo.web.site_files import ServeError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@dataclass
class Limits:
    """What bounds the server's time and memory (``zoo serve``'s options; defaults in the README)."""

    max_batch: int = 64  # samples per onnxruntime run
    batch_wait_ms: float = 2.0  # how long a batch waits for more requests after its first
    max_body: int = 8 * 1024 * 1024  # bytes of one request body (413 above)
    max_bodies: int = 256 * 1024 * 1024  # bytes of all the request bodies being read at once (503 above)
    request_timeout: float = 10.0  # seconds for a whole request to arrive (408 and closed after)
    keep_alive: int = 5  # seconds an idle keep-alive connection is kept
    max_connections: int = 512  # open connections and requests in progress (503 above)
    backlog: int = 2048  # connections waiting to be accepted
    allow_hosts: tuple[str, ...] = field(default_factory=tuple)  # Host header names answered besides loopback


class Server:
    """uvicorn serving the app on a bound socket; ``serve_forever`` / ``shutdown`` / ``server_close`` as
    ``socketserver``'s, so a thread can run it (tests) or the main thread (``zoo serve``, with signals)."""

    def __init__(self, sock: socket.socket, site: Site, host: str, limits: Limits):
        import uvicorn

        from zoo.web.app import allowed_hosts, create_app
        from zoo.web.inference import ModelPool
        from zoo.web.protocol import deadline_protocol

        def source(folder: Path) -> str:
            return "your run" if site_files.from_runs(folder, site.out, site.reference) else "reference"

        self.socket = sock
        self.server_address = sock.getsockname()
        self.pool = ModelPool(site.folders, source, limits.max_batch, limits.batch_wait_ms)
        app = create_app(site, self.pool, allowed_hosts(host, limits.allow_hosts), limits.max_body,
                         limits.max_bodies)
        logging.getLogger("uvicorn.error").setLevel(logging.ERROR)  # a quiet server: errors only
        config = uvicorn.Config(app, http=deadline_protocol(limits.request_timeout), ws="none", loop="asyncio",
                                lifespan="off", log_config=None, access_log=False, proxy_headers=False,
                                server_header=False, limit_concurrency=limits.max_connections,
                                backlog=limits.backlog, timeout_keep_alive=limits.keep_alive,
                                timeout_graceful_shutdown=2, h11_max_incomplete_event_size=64 * 1024)
        self.uvicorn = uvicorn.Server(config)
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        """Serve until ``shutdown`` (or, in the main thread, SIGINT/SIGTERM, re-raised once stopped)."""
        self._stopped.clear()
        try:
            asyncio.run(self.uvicorn.serve(sockets=[self.socket]))
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop a ``serve_forever`` running in another thread and wait for it."""
        self.uvicorn.should_exit = True
        self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()
        self.pool.close()


def make_server(site: Site, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, limits: Limits | None = None
                ) -> Server:
    """A bound (not yet serving) server for ``site``; ServeError, one line, when it cannot bind."""
    limits = limits or Limits()
    # IPPROTO_TCP named, so that asyncio sees TCP and sets TCP_NODELAY on each connection (with proto 0 it
    # does not, and a reply's header and body, written apart, wait 40 ms on Nagle and the client's delayed ACK).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart right after a stop binds
        sock.bind((host, port))
        sock.listen(limits.backlog)
    except OSError as exc:
        sock.close()
        raise ServeError(_bind_problem(exc, host, port)) from None
    return Server(sock, site, host, limits)


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
          data_dir: str | Path | None = None, limits: Limits | None = None) -> int:
    """Serve the playground and the inference API until Ctrl-C; returns the exit code (130 after Ctrl-C,
    143 after SIGTERM)."""
    site = Site(out, site_files.ort_folder(), data_dir)
    folders = site.folders()
    if not folders:
        raise ServeError(f"no ONNX exports in {out} or in any plugin's reference set; run 'zoo run NAME' first")
    server = make_server(site, host, port, limits)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_address[1]}/"
    print(f"zoo: playground at {url} (Ctrl-C stops it)", flush=True)
    runs = sum(site_files.from_runs(folder, out) for folder in folders.values())
    print(f"zoo: {len(folders)} entries: {runs} from your runs in {out}, {len(folders) - runs} from the plugins' "
          "reference sets", flush=True)
    ready = [name for name, folder in folders.items() if site_files.regular_file(folder, END_TO_END_FILE)]
    print(f"zoo: inference API (Open Inference Protocol v2) at {url}v2: {len(ready)} of {len(folders)} entries "
          f"ready{'' if len(ready) == len(folders) else ' (the others need exporting again: zoo export NAME)'}",
          flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"zoo: note: listening on {host}, so other machines that can reach it can open the page and call "
              f"the API (with a Host header of {host} or one given with --allow-host)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt as exc:  # the signal uvicorn re-raised once stopped, as the CLI's handler raised it
        from zoo.interrupts import Terminated

        print("zoo: playground stopped", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        server.server_close()
    return 0
