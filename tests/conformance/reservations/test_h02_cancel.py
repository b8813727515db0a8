"""H02 — Cancel a reservation: CancelReservation with our id; Accepted marks it cancelled, a
Rejected (the station does not know it) leaves it as it was; an id we never issued is refused
before anything is sent."""

from __future__ import annotations

import json

from core_support import answer, booted_station, received, reservation, reserve
from ocpp_support import csms  # noqa: F401 - fixture
from trust_anchor_support import audit


async def test_h02_cancel_a_reservation(csms):
    station = await booted_station(csms, "H02")
    reservation_id = (await reserve(csms, station, evse_id=1)).json()["reservation_id"]
    answer(station, "CancelReservation", {"status": "Accepted"})

    cancelled = await csms.rest.delete(f"/api/v1/stations/H02/reservations/{reservation_id}", headers=csms.headers())

    assert cancelled.status_code == 200 and cancelled.json()["result"]["status"] == "Accepted", cancelled.text
    assert received(station, "CancelReservation") == [{"reservationId": reservation_id}]
    assert (await reservation(csms, "H02", reservation_id))["status"] == "cancelled"


async def test_h02_a_cancel_the_station_rejects_changes_nothing(csms):
    station = await booted_station(csms, "H02-R")
    reservation_id = (await reserve(csms, station, evse_id=1)).json()["reservation_id"]
    answer(station, "CancelReservation", {"status": "Rejected"})

    rejected = await csms.rest.delete(f"/api/v1/stations/H02-R/reservations/{reservation_id}", headers=csms.headers())

    assert rejected.json()["result"]["status"] == "Rejected"
    assert (await reservation(csms, "H02-R", reservation_id))["status"] == "Accepted"


async def test_h02_an_unknown_reservation_is_refused_before_sending(csms):
    station = await booted_station(csms, "H02-U")
    refused = await csms.rest.delete("/api/v1/stations/H02-U/reservations/12345", headers=csms.headers())
    assert refused.status_code == 404 and refused.json()["rule"] == "reservation.unknown"
    assert received(station, "CancelReservation") == []


async def test_h02_a_cancel_refused_before_sending_is_audited(csms):
    """Every refused attempt is an audit entry: the refused cancels were none (a remote start or
    a reservation refused for an unknown station was)."""
    await booted_station(csms, "H02-A")
    for station_id, rule in (("H02-A", "reservation.unknown"), ("H02-NO-SUCH", "station.unknown")):
        refused = await csms.rest.delete(f"/api/v1/stations/{station_id}/reservations/12345", headers=csms.headers())
        assert refused.status_code == 404 and refused.json()["rule"] == rule
        (entry,) = audit(csms, "station.call", station_id)
        detail = json.loads(entry.detail)
        assert entry.outcome == "refused" and detail["rule"] == rule and detail["action"] == "CancelReservation"


async def test_h02_the_generic_call_and_the_typed_command_refuse_an_unknown_reservation_too(csms):
    """Every door asks the same: a reservation we never made is refused before anything is sent,
    and one we made goes out."""
    station = await booted_station(csms, "H02-G")
    for path in ("/api/v1/stations/H02-G/commands/CancelReservation", "/api/v1/stations/H02-G/calls"):
        body = {"reservation_id": 12345} if "commands" in path else \
            {"action": "CancelReservation", "payload": {"reservationId": 12345}}
        refused = await csms.rest.post(path, json=body, headers=csms.headers("operator"))
        assert refused.status_code == 422 and refused.json()["rule"] == "reservation.unknown", refused.text
    assert received(station, "CancelReservation") == []
    reservation_id = (await reserve(csms, station, evse_id=1)).json()["reservation_id"]
    answer(station, "CancelReservation", {"status": "Accepted"})
    sent = await csms.rest.post("/api/v1/stations/H02-G/calls", headers=csms.headers("operator"),
                                json={"action": "CancelReservation", "payload": {"reservationId": reservation_id}})
    assert sent.status_code == 200, sent.text
    assert received(station, "CancelReservation") == [{"reservationId": reservation_id}]


async def test_h02_a_reservation_sent_by_hand_with_id_0_can_be_cancelled(csms):
    """A ReserveNow sent through the generic call may carry any 32-bit id; its reservation was kept,
    but the cancel route took 1 to 2^31-1 only (422), so only a raw CancelReservation reached it."""
    station = await booted_station(csms, "H02-Z")
    answer(station, "ReserveNow", {"status": "Accepted"})
    answer(station, "CancelReservation", {"status": "Accepted"})
    made = await csms.rest.post("/api/v1/stations/H02-Z/calls", headers=csms.headers(), json={
        "action": "ReserveNow", "payload": {"id": 0, "expiryDateTime": "2030-01-01T00:00:00Z",
                                            "idToken": {"idToken": "04AB", "type": "ISO14443"}}})
    assert made.status_code == 200 and made.json()["response"] == {"status": "Accepted"}, made.text

    cancelled = await csms.rest.delete("/api/v1/stations/H02-Z/reservations/0", headers=csms.headers())

    assert cancelled.status_code == 200 and cancelled.json()["result"]["status"] == "Accepted", cancelled.text
    assert received(station, "CancelReservation") == [{"reservationId": 0}]
    assert (await reservation(csms, "H02-Z", 0))["status"] == "cancelled"
    out_of_range = await csms.rest.delete(f"/api/v1/stations/H02-Z/reservations/{2**31}", headers=csms.headers())
    assert out_of_range.status_code == 422
