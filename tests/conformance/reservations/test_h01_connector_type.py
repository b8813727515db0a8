"""H01 — Reserve a connector type: ReserveNow carries connectorType (here cType2) and no EVSE."""

from __future__ import annotations

from core_support import booted_station, received, reservation, reserve
from ocpp_support import csms  # noqa: F401 - fixture


async def test_h01_reserve_a_connector_type(csms):
    station = await booted_station(csms, "H01-TYPE")

    made = await reserve(csms, station, connector_type="cType2")

    assert made.json()["result"]["status"] == "Accepted", made.text
    (sent,) = received(station, "ReserveNow")
    assert sent["connectorType"] == "cType2" and "evseId" not in sent
    assert (await reservation(csms, "H01-TYPE", sent["id"]))["connector_type"] == "cType2"
