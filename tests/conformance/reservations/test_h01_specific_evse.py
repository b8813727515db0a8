"""H01 — Reserve a specific EVSE: the CSMS sends ReserveNow with an id it drew, the EVSE, the
idToken and the expiry; the station's Accepted is kept with the reservation."""

from __future__ import annotations

from core_support import ID_TOKEN, booted_station, received, reservation, reserve
from ocpp_support import csms  # noqa: F401 - fixture


async def test_h01_reserve_a_specific_evse(csms):
    station = await booted_station(csms, "H01-EVSE")

    made = await reserve(csms, station, evse_id=1, group_id_token={"id_token": "GROUP-1", "type": "Central"})

    assert made.status_code == 200 and made.json()["result"]["status"] == "Accepted", made.text
    (sent,) = received(station, "ReserveNow")
    assert sent["id"] == made.json()["reservation_id"] and sent["evseId"] == 1 and sent["idToken"] == ID_TOKEN
    assert sent["groupIdToken"] == {"idToken": "GROUP-1", "type": "Central"} and "connectorType" not in sent
    row = await reservation(csms, "H01-EVSE", sent["id"])
    assert row["status"] == "Accepted" and row["evse_id"] == 1 and row["group_id_token"] == "GROUP-1"


async def test_an_expiry_in_the_past_never_leaves(csms):
    station = await booted_station(csms, "H01-PAST")
    refused = await reserve(csms, station, evse_id=1, expiry_date_time="2020-01-01T00:00:00Z")
    assert refused.status_code == 422 and refused.json()["rule"] == "call.reservation.expiry", refused.text
    assert received(station, "ReserveNow") == []


async def test_a_drawn_id_the_station_holds_is_drawn_again(csms, monkeypatch):
    """A ReserveNow with an id the station holds replaces that reservation (H01): a drawn id that
    was already one of the station's reservations overwrote its record, and at the station
    replaced it, where drawn remoteStartIds are drawn again."""
    station = await booted_station(csms, "H01-DRAWN")
    draws = iter([11, 11, 12])
    monkeypatch.setattr("api.rest.routers.reservations.draw_id", lambda: next(draws))
    first = await reserve(csms, station, evse_id=1)
    assert first.json()["reservation_id"] == 11, first.text

    second = await reserve(csms, station, evse_id=2)

    assert second.status_code == 200 and second.json()["reservation_id"] == 12, second.text
    assert [sent["id"] for sent in received(station, "ReserveNow")] == [11, 12]
    assert (await reservation(csms, "H01-DRAWN", 11))["evse_id"] == 1
