"""An admitted station connection: what the listener hands to the OCPP session handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from websockets.asyncio.server import ServerConnection

from pki.serials import serial_hex
from storage.types import utcnow


@dataclass(frozen=True)
class ConnectionInfo:
    """A read-only view of one live connection, for listings (REST) and logs."""

    station_id: str
    security_profile: int
    subprotocol: str
    remote_address: str | None
    tls_version: str | None
    cipher: str | None
    client_certificate_serial: str | None
    connected_at: datetime


@dataclass(eq=False)
class StationConnection:
    """A connection that passed admission and negotiated ``ocpp2.0.1``.

    ``security_profile`` is the profile this connection proved (1: ws + Basic, 2: wss + Basic,
    3: wss + client certificate), which admission has matched with the station's configuration.
    ``client_certificate`` is the verified station certificate on profile 3, else None.
    ``websocket`` is the open connection; the session handler owns reading and writing it.
    """

    station_id: str
    security_profile: int
    websocket: ServerConnection
    subprotocol: str
    remote_address: str | None = None
    tls_version: str | None = None
    cipher: str | None = None
    client_certificate: x509.Certificate | None = None
    connected_at: datetime = field(default_factory=utcnow)
    # Larger frames close the connection with 1009 (the session does, after the message log
    # took them); None: the WebSocket layer's own limit is the only one.
    max_frame: int | None = None
    # The OCPP session serving this connection, once the gateway made one (api/ocpp/gateway.py):
    # the registry's one map (station → connection) then finds sessions too.
    session: Any = field(default=None, repr=False)

    @property
    def client_certificate_serial(self) -> str | None:
        return serial_hex(self.client_certificate.serial_number) if self.client_certificate else None

    def info(self) -> ConnectionInfo:
        return ConnectionInfo(self.station_id, self.security_profile, self.subprotocol,
                              self.remote_address, self.tls_version, self.cipher,
                              self.client_certificate_serial, self.connected_at)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.websocket.close(code, reason)


# The session handler serves one connection until it ends; when it returns, the listener
# closes the WebSocket (if still open) and removes the connection from the registry.
SessionHandler = Callable[[StationConnection], Awaitable[None]]
