"""The playground's URL map: which file, or which JSON, each GET of ``zoo serve``'s page answers with.

Every URL maps to an allow-listed file (``zoo.web.site_files``); nothing else on disk is reachable.
No server here: ``zoo.web.app`` answers HTTP requests with these replies.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from zoo.web import site_files

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
