"""Which stations are connected to this process right now.

Lives on the event loop (no locks): the listener registers and unregisters, the REST API and
the OCPP layer read. At most one connection per station: registering a second one hands back
the first, which the caller then closes (or admission refuses the second beforehand).
"""

from __future__ import annotations

from api.ocpp.connection import ConnectionInfo, StationConnection


class ConnectionRegistry:
    def __init__(self) -> None:
        self._connections: dict[str, StationConnection] = {}

    def register(self, connection: StationConnection) -> StationConnection | None:
        """Make ``connection`` the station's connection; returns the one it displaced, if any."""
        previous = self._connections.get(connection.station_id)
        self._connections[connection.station_id] = connection
        return previous if previous is not connection else None

    def unregister(self, connection: StationConnection) -> bool:
        """Forget ``connection`` unless a newer connection of the station has replaced it."""
        if self._connections.get(connection.station_id) is connection:
            del self._connections[connection.station_id]
            return True
        return False

    def get(self, station_id: str) -> StationConnection | None:
        return self._connections.get(station_id)

    def __contains__(self, station_id: object) -> bool:
        return station_id in self._connections

    def __len__(self) -> int:
        return len(self._connections)

    def connections(self) -> list[StationConnection]:
        return list(self._connections.values())

    def snapshot(self) -> list[ConnectionInfo]:
        """Every live connection, ordered by station id."""
        return [self._connections[k].info() for k in sorted(self._connections)]
