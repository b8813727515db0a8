"""Block H's handler called directly (no socket): ReservationStatusUpdate."""

from __future__ import annotations

import logging

import pytest
from fake_connection import FakeStation

from api.core.audit import run_in_session
from api.csms.reservations import service

pytestmark = pytest.mark.fast

_RESERVE = {"id": 5, "expiryDateTime": "2030-01-01T00:00:00Z", "idToken": {"idToken": "T1", "type": "Central"},
            "evseId": 1}


async def test_an_expired_reservation_is_kept_as_expired(ctx):
    run_in_session(ctx, lambda s: service.requested(s, "CS-1", "op", _RESERVE))
    answer = await FakeStation(ctx, "CS-1").send("ReservationStatusUpdate", {"reservationId": 5,
                                                                             "reservationUpdateStatus": "Expired"})
    assert answer == {}
    assert run_in_session(ctx, lambda s: service.find(s, "CS-1", 5).status) == "Expired"


async def test_another_stations_reservation_is_not_touched(ctx):
    run_in_session(ctx, lambda s: service.requested(s, "CS-1", "op", _RESERVE))
    await FakeStation(ctx, "CS-2").send("ReservationStatusUpdate", {"reservationId": 5,
                                                                    "reservationUpdateStatus": "Removed"})
    assert run_in_session(ctx, lambda s: service.find(s, "CS-1", 5).status) == "requested"
    assert run_in_session(ctx, lambda s: service.find(s, "CS-2", 5)) is None


async def test_ids_we_never_sent_are_logged_a_bounded_number_of_times(ctx, caplog):
    """A WARNING per frame: as many lines as the station chose to send."""
    station = FakeStation(ctx, "CS-1")
    with caplog.at_level(logging.WARNING, logger="chargeca.ocpp.reservations"):
        for reservation_id in range(1, 21):
            await station.send("ReservationStatusUpdate", {"reservationId": reservation_id,
                                                           "reservationUpdateStatus": "Removed"})
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 5 and lines[0].startswith("CS-1 reported reservation 1 Removed, which we never sent")
    assert lines[-1].endswith("(16 times within 10 minutes)")
