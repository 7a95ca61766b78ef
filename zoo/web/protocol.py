"""uvicorn's h11 protocol with the one timeout it lacks: a deadline for each whole request.

uvicorn closes a keep-alive connection idle ``timeout_keep_alive`` seconds after a reply, but a client that
connects and sends nothing, or half a request line, or headers and part of a body, and then stops, holds its
connection for ever. ``DeadlineH11Protocol`` gives every request ``request_timeout`` seconds from its first
byte (from the connection's start, for the first) to its last byte of body; past that, a client whose reply
has not started gets a 408 with ``{"error": ...}`` and the connection is closed. The time the server takes to
reply is not counted. Select it with ``uvicorn.Config(http=deadline_protocol(seconds))``.
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_REQUEST_TIMEOUT = 10.0


class DeadlineH11Protocol(H11Protocol):
    request_timeout = DEFAULT_REQUEST_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            self._arm()  # part of a request: the deadline set at its first byte stands
        else:
            self._disarm()  # a whole request is in (or the connection is ending)

    def on_response_complete(self) -> None:
        self._disarm()  # from here uvicorn's keep-alive timeout watches the idle connection
        super().on_response_complete()
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and self.timeout_keep_alive_task is None \
                and not self.transport.is_closing():
            self._arm()  # a pipelined request already begun

    def shutdown(self) -> None:
        """The server is stopping: a request still arriving is dropped at once rather than waited for."""
        arriving = self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
        if arriving and (self.cycle is None or not self.cycle.response_started) and not self.transport.is_closing():
            self._disarm()
            self.transport.close()
            return
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            body = json.dumps({"error": f"the request did not arrive whole within {self.request_timeout:g} s"})
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                                 b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body.encode()))
        self.transport.close()


def deadline_protocol(seconds: float) -> type[DeadlineH11Protocol]:
    """The protocol class with a ``seconds`` request deadline."""
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"request_timeout": float(seconds)})
