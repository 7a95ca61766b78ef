"""``zoo serve``'s Starlette app: the playground's files and the Open Inference Protocol (KServe v2) REST API.

- ``/v2/...``: health, server and model metadata, model readiness, the repository index and ``infer``
  (``zoo.web.oip`` checks and encodes, ``zoo.web.inference`` batches and runs). Every refusal is a 4xx
  with ``{"error": "..."}``; request bodies above ``max_body`` bytes get a 413, and while the bodies being
  read add up to ``max_bodies`` bytes, a request that would add more gets a 503 (memory stays bounded).
- everything else: GET/HEAD of the playground (``zoo.web.site.Site``), exactly the URLs it always had.
- only Host headers naming an allowed host are answered (``HostAllowlist``): a page on another site that a
  DNS rebinding points at this server gets a 400 with a JSON error, never the entries' paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from zoo.version import __version__
from zoo.web import oip
from zoo.web.inference import ModelPool, ModelUnavailable
from zoo.web.oip import OipError
from zoo.web.site import CSP, Site

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Content-Security-Policy": CSP}


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> list[str]:
    """The Host header names answered: this machine's loopback names, the address listened on, and ``extra``."""
    names = [*LOCAL_HOSTS, f"[{host}]" if ":" in host else host, *extra]
    return list(dict.fromkeys(name.lower() for name in names if name not in ("0.0.0.0", "[::]")))


def error(status: int, message: str, **extra) -> JSONResponse:
    """A refusal. After a 413 or 503 the connection stays open: uvicorn reads the rest of the body and drops
    it (within the request deadline), so a client that sends its whole body before reading hears why."""
    return JSONResponse({"error": message, **extra}, status_code=status)


def create_app(site: Site, pool: ModelPool, hosts: list[str], max_body: int, max_bodies: int) -> Starlette:
    """The ASGI app serving ``site``'s files and ``pool``'s models to requests naming one of ``hosts``."""
    held = [0]  # bytes of request bodies being read now, all requests together

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> Response:
        return JSONResponse({"ready": True})

    async def server_metadata(request: Request) -> Response:
        return JSONResponse({"name": "zoo", "version": __version__,
                             "extensions": ["classification", "binary_tensor_data"]})

    async def model_metadata(request: Request) -> Response:
        try:
            batcher = await pool.batcher(_model(request))
        except OipError as exc:
            return error(exc.status, exc.message)
        return JSONResponse(oip.model_metadata(batcher.model.signature))

    async def model_ready(request: Request) -> Response:
        name = request.path_params["model"]
        try:
            await pool.batcher(_model(request))
        except ModelUnavailable as exc:
            return error(400, exc.message, name=name, ready=False)
        except OipError as exc:
            return error(exc.status, exc.message)
        return JSONResponse({"name": name, "ready": True})

    async def repository_index(request: Request) -> Response:
        entries = []
        for name in pool.names():
            try:
                pool.model_file(name)
            except ModelUnavailable as exc:
                entries.append({"name": name, "version": oip.VERSION, "state": "UNAVAILABLE", "reason": exc.message})
            else:
                entries.append({"name": name, "version": oip.VERSION, "state": "READY"})
        return JSONResponse(entries)

    async def infer(request: Request) -> Response:
        try:
            batcher = await pool.batcher(_model(request))
            with batcher.arriving():
                decoded = oip.decode_request(await _body(request, max_body, held, max_bodies),
                                             batcher.model.signature, request.headers.get(oip.HEADER_LENGTH))
            results = await batcher.infer(decoded.inputs, decoded.rows)
            return _reply(oip.encode_reply(batcher.model.signature, decoded, results))
        except OipError as exc:
            return error(exc.status, exc.message)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody hears it

    async def playground(request: Request) -> Response:
        reply = site.reply(request.scope.get("raw_path", b"").decode("latin-1") or request.url.path)
        if reply.path is not None:
            return FileResponse(reply.path, media_type=reply.content_type, headers=HEADERS)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type, headers=HEADERS)

    async def not_found(request: Request) -> Response:
        return error(404, f"no such endpoint: {request.method} {request.url.path}")

    model = "/v2/models/{model}"
    routes = [
        Route("/v2/health/live", live), Route("/v2/health/ready", ready), Route("/v2", server_metadata),
        Route("/v2/repository/index", repository_index, methods=["GET", "POST"]),
        *(r for base in (model, model + "/versions/{version}") for r in (
            Route(base, model_metadata), Route(base + "/ready", model_ready),
            Route(base + "/infer", infer, methods=["POST"]))),
        Route("/v2/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/{path:path}", playground, methods=["GET", "HEAD"]),
    ]
    exception_handlers = {404: _http_error, 405: _http_error}
    return Starlette(routes=routes, exception_handlers=exception_handlers,
                     middleware=[Middleware(HostAllowlist, hosts=hosts)])


class HostAllowlist:
    """ASGI middleware: a request whose Host header (port aside) is not one of ``hosts`` gets a JSON 400."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]):
        self.app, self.hosts = app, frozenset(host.lower() for host in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = host_name(dict(scope["headers"]).get(b"host", b"").decode("latin-1"))
            if host not in self.hosts:
                refusal = error(400, f"this server does not answer for host {host!r}; start it with "
                                     f"'zoo serve --allow-host {host or 'NAME'}' to allow it")
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def host_name(header: str) -> str:
    """The host of a Host header, without its port: ``[::1]:8000`` -> ``[::1]``, ``Example.org:80`` -> ``example.org``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[:header.find("]") + 1] if "]" in header else header
    return header.split(":", 1)[0]


def _model(request: Request) -> str:
    version = request.path_params.get("version")
    name = request.path_params["model"]
    if version not in (None, oip.VERSION):
        raise OipError(404, f"model '{name}' has only version {oip.VERSION}")
    return name


def _reply(reply: oip.Reply) -> Response:
    """JSON alone, or (binary outputs) the JSON header, its length in a header, then the outputs' bytes."""
    if not reply.binary:
        return JSONResponse(reply.header)
    header = json.dumps(reply.header, separators=(",", ":")).encode()
    return Response(b"".join([header, *reply.binary]), media_type="application/octet-stream",
                    headers={oip.HEADER_LENGTH: str(len(header))})


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 400)
    return error(status, "method not allowed" if status == 405 else "not found")


async def _body(request: Request, limit: int, held: list[int], budget: int) -> bytes:
    """The request body, refused with a 413 as soon as it is known to exceed ``limit`` bytes, or a 503 when
    it would take the bodies being read (``held[0]`` bytes) past ``budget``."""
    too_large = OipError(413, f"the request body is larger than {limit:,} bytes; send fewer samples per request")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            held[0] += len(chunk)
            if size > limit:
                raise too_large
            if held[0] > budget:
                raise OipError(503, f"the server is reading {budget:,} bytes of requests already; try again soon")
            chunks.append(chunk)
    finally:
        held[0] -= size
    return b"".join(chunks)
