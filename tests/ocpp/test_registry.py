"""One map of this node's stations: the connection registry, where the gateway's sessions are found too."""

from __future__ import annotations

import pytest

from api.ocpp.transport.connection import StationConnection
from api.ocpp.transport.registry import ConnectionRegistry

pytestmark = pytest.mark.fast


def _connection(station_id: str) -> StationConnection:
    return StationConnection(station_id, 2, websocket=None, subprotocol="ocpp2.0.1")


def test_a_station_session_is_that_of_its_current_connection_only():
    registry = ConnectionRegistry()
    first = _connection("CP_1")
    registry.register(first)
    registry.attach(first, "session of the first")
    assert registry.session("CP_1") == "session of the first"

    second = _connection("CP_1")
    assert registry.register(second) is first
    # Until the gateway has made the newer connection's session, the older one's answers (the
    # gateway skips it once it is closed): the station does not look offline while reconnecting.
    assert registry.session("CP_1") == "session of the first" and registry.sessions() == ["session of the first"]
    registry.attach(second, "session of the second")
    assert registry.session("CP_1") == "session of the second"

    assert registry.unregister(first) is False  # the older connection ending leaves the newer one alone
    assert registry.sessions() == ["session of the second"]
    assert registry.unregister(second) is True
    assert registry.session("CP_1") is None and len(registry) == 0
