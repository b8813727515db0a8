"""Which stations are connected to this process right now.

Lives on the event loop (no locks): the listener registers and unregisters, the REST API and
the OCPP layer read. At most one connection per station: registering a second one hands back
the first, which the caller then closes (or admission refuses the second beforehand). The one
map of this node's stations: the gateway hangs each OCPP session on its connection and finds
sessions here, so a session is reachable exactly while its connection is the station's.

It is also this node's ``SessionCloser`` (api/ocpp/transport/disconnects.py): "close this station's
connections, reason X" closes the local ones; with several nodes the request reaches each node.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from api.ocpp.transport.connection import ConnectionInfo, StationConnection
from api.ocpp.transport.disconnects import POLICY_VIOLATION, DisconnectRequest, close_reason

log = logging.getLogger("chargeca.ocpp.registry")


class ConnectionRegistry:
    def __init__(self) -> None:
        self._connections: dict[str, StationConnection] = {}
        self._closing: set[asyncio.Task] = set()

    def register(self, connection: StationConnection) -> StationConnection | None:
        """Make ``connection`` the station's connection; returns the one it displaced, if any."""
        previous = self._connections.get(connection.station_id)
        self._connections[connection.station_id] = connection
        if previous is not None and previous is not connection and connection.session is None:
            # Until the gateway has made the newer connection's session, the older one's answers
            # for the station (the gateway skips it once closed): the station does not look
            # offline while it is in fact reconnecting.
            connection.session = previous.session
        return previous if previous is not connection else None

    def unregister(self, connection: StationConnection) -> bool:
        """Forget ``connection`` unless a newer connection of the station has replaced it."""
        if self._connections.get(connection.station_id) is connection:
            del self._connections[connection.station_id]
            return True
        return False

    def get(self, station_id: str) -> StationConnection | None:
        return self._connections.get(station_id)

    def attach(self, connection: StationConnection, session: Any) -> None:
        """``session`` serves ``connection`` from now on. A connection displaced meanwhile keeps
        it to itself: the station's newer connection is the one its sessions are found by."""
        connection.session = session

    def session(self, station_id: str) -> Any | None:
        """The OCPP session of the station's current connection, None before the gateway made one."""
        connection = self._connections.get(station_id)
        return connection.session if connection is not None else None

    def sessions(self) -> list[Any]:
        return [c.session for c in self._connections.values() if c.session is not None]

    def __contains__(self, station_id: object) -> bool:
        return station_id in self._connections

    def __len__(self) -> int:
        return len(self._connections)

    def connections(self) -> list[StationConnection]:
        return list(self._connections.values())

    def snapshot(self) -> list[ConnectionInfo]:
        """Every live connection, ordered by station id."""
        return [self._connections[k].info() for k in sorted(self._connections)]

    async def close_station(self, request: DisconnectRequest) -> int:
        """Close the station's connection here if the request applies to it (code 1008 and the
        request's reason); the closing handshake finishes in the background."""
        connection = self._connections.get(request.station_id)
        if connection is None or not request.applies_to(connection.security_profile,
                                                        connection.client_certificate_serial):
            return 0
        log.warning("closing the connection of %s: %s", request.station_id, request.reason)
        task = asyncio.create_task(connection.close(POLICY_VIOLATION, close_reason(request.reason)))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return 1
