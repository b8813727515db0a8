"""H04 — The station ends a reservation: ReservationStatusUpdate Expired (its time ran out) or
Removed (e.g. the EVSE went out of service) is answered and kept; an id we never issued is
answered too and changes nothing."""

from __future__ import annotations

import pytest
from core_support import booted_station, get, reservation, reserve
from ocpp_support import csms  # noqa: F401 - fixture


@pytest.mark.parametrize("update", ["Expired", "Removed"])
async def test_h04_reservation_status_update(csms, update):
    station_id = f"H04-{update.upper()}"
    station = await booted_station(csms, station_id)
    reservation_id = (await reserve(csms, station, evse_id=1)).json()["reservation_id"]

    assert await station.call("ReservationStatusUpdate", {"reservationId": reservation_id,
                                                          "reservationUpdateStatus": update}) == {}

    assert (await reservation(csms, station_id, reservation_id))["status"] == update
    assert await get(csms, f"/api/v1/stations/{station_id}/reservations?active=true") == []


async def test_h04_an_update_for_a_reservation_we_never_made_is_answered_and_ignored(csms):
    station = await booted_station(csms, "H04-UNKNOWN")
    assert await station.call("ReservationStatusUpdate", {"reservationId": 99,
                                                          "reservationUpdateStatus": "Expired"}) == {}
    assert await get(csms, "/api/v1/stations/H04-UNKNOWN/reservations") == []
