"""How uvicorn serves the REST app: a deadline per request, bounded concurrency, figures from policy.

uvicorn has no header or body read timeout: ``timeout_keep_alive`` is armed only after a
response, for an idle keep-alive connection. A client that opens a connection and sends a
request one byte at a time, or never finishes its body, holds a file descriptor (of the process
that also serves OCPP) for as long as it likes. ``DeadlineH11Protocol`` adds the missing
deadline at the protocol level, below ASGI, where the bytes arrive: from the moment a
connection may send a request (it opened, or the previous response was sent) until h11 has the
whole request, head and body. When it passes, the client gets 408 and the connection is closed.
An ASGI middleware could not do this: the app is called only once the head is complete.

The h11 implementation is chosen explicitly so the deadline applies whatever else is installed
(uvicorn would pick httptools when present).
"""

from __future__ import annotations

import asyncio
import socket

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.rest.access_log import limit_access_log
from policies.model import RestPolicy

_TIMEOUT_BODY = b'{"error": "request not complete in time"}'
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                     b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY)
# States in which the client still owes us (part of) a request.
_READING = (h11.IDLE, h11.SEND_BODY)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each request (see the module doc)."""

    request_timeout: float = 5.0

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _watch(self) -> None:
        if self.transport.is_closing() or self.conn.their_state not in _READING:
            self._disarm()  # the request is in (the app has it), or the connection is ending
        elif self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state not in _READING:
            return
        if self.cycle is None or not self.cycle.response_started:
            # Written raw: h11 refuses a response before a request head it never completed.
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def deadline_protocol(request_timeout: float) -> type[DeadlineH11Protocol]:
    """The protocol class for one server: uvicorn builds protocols from the class alone."""
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"request_timeout": float(request_timeout)})


def server_config(app: object, *, host: str, port: int, policy: RestPolicy, **options: object) -> uvicorn.Config:
    # ws="none": the REST API has no WebSocket routes, and an upgraded connection would leave the deadline.
    config = uvicorn.Config(app, host=host, port=port, http=deadline_protocol(policy.request_timeout_seconds),
                            ws="none", timeout_keep_alive=policy.keep_alive_seconds,
                            limit_concurrency=policy.max_concurrency, backlog=policy.backlog,
                            **options)  # type: ignore[arg-type]
    limit_access_log(policy.access_log_lines_per_minute)   # after the Config, which sets uvicorn's logging up
    return config


def shared_socket(host: str, port: int, backlog: int) -> socket.socket:
    """The REST port bound with SO_REUSEPORT, shared by the workers of one machine (api/workers.py)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=backlog, reuse_port=True)
