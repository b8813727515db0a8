"""H01 — The station's other answers to ReserveNow: Occupied, Faulted, Rejected, Unavailable are
kept as the reservation's status (the operator sees why there is none), and the reservation is
not listed among the active ones."""

from __future__ import annotations

import pytest
from core_support import booted_station, get, received, reservation, reserve
from ocpp_support import csms  # noqa: F401 - fixture


@pytest.mark.parametrize("status", ["Occupied", "Faulted", "Rejected", "Unavailable"])
async def test_h01_a_reservation_the_station_refuses(csms, status):
    station_id = f"H01-{status.upper()}"
    station = await booted_station(csms, station_id)

    made = await reserve(csms, station, evse_id=1, status=status)

    assert made.json()["result"]["status"] == status, made.text
    (sent,) = received(station, "ReserveNow")
    assert (await reservation(csms, station_id, sent["id"]))["status"] == status
    assert await get(csms, f"/api/v1/stations/{station_id}/reservations?active=true") == []
