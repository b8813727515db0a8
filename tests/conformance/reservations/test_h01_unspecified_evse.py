"""H01 — Reserve an unspecified EVSE: ReserveNow names neither an EVSE nor a connector type;
the station picks one when the driver comes."""

from __future__ import annotations

from core_support import booted_station, received, reservation, reserve
from ocpp_support import csms  # noqa: F401 - fixture


async def test_h01_reserve_any_evse(csms):
    station = await booted_station(csms, "H01-ANY")

    made = await reserve(csms, station)

    assert made.json()["result"]["status"] == "Accepted", made.text
    (sent,) = received(station, "ReserveNow")
    assert "evseId" not in sent and "connectorType" not in sent
    row = await reservation(csms, "H01-ANY", sent["id"])
    assert row["status"] == "Accepted" and row["evse_id"] is None
