"""TC_B_58_CSMS (errata ERR2509 §5.10) — WebSocket subprotocol negotiation: offered only
``ocpp0.1`` the CSMS refuses the upgrade with a 4xx answer (no 101, no close afterwards);
offered ``ocpp0.1,ocpp2.0.1`` it answers ``Sec-WebSocket-Protocol: ocpp2.0.1``."""

from __future__ import annotations

import pytest
from ocpp_support import csms  # noqa: F401 - fixture

from simulator.station import StationRefused


async def test_tc_b_58_only_an_unsupported_subprotocol(csms):
    password = csms.add_station("TC-B-58")
    station = csms.simulator("TC-B-58", password=password, subprotocols=["ocpp0.1"])
    with pytest.raises(StationRefused) as refused:
        await station.connect()
    assert 400 <= refused.value.status < 500
    assert csms.gateway.session("TC-B-58") is None


async def test_tc_b_58_ocpp201_among_others(csms):
    password = csms.add_station("TC-B-58-OK")
    station = csms.simulator("TC-B-58-OK", password=password, subprotocols=["ocpp0.1", "ocpp2.0.1"])
    await station.connect()
    assert station.websocket.response.headers["Sec-WebSocket-Protocol"] == "ocpp2.0.1"
    assert (await station.boot())["status"] == "Accepted"
