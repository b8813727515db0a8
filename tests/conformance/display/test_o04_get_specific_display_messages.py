"""O04 — Get specific display messages: GetDisplayMessages by id, by priority and by state; the
station reports only the matching ones, and only those are marked reported."""

from __future__ import annotations

from core_support import booted_station, eventually, received
from customer_support import display_messages, message, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def _reported(csms, case: str, expected: set[int]) -> None:
    async def done():
        rows = await display_messages(csms, case)
        return {i for i, row in rows.items() if row["reported_at"]} == expected
    await eventually(done)


async def test_o04_by_id_priority_and_state(csms):
    station = await booted_station(csms, "O04")
    await sent(csms, station, "SetDisplayMessage", {"message": message(1, "one")})
    await sent(csms, station, "SetDisplayMessage", {"message": message(2, "two", priority="InFront")})
    await sent(csms, station, "SetDisplayMessage", {"message": message(3, "three", state="Idle")})

    assert (await sent(csms, station, "GetDisplayMessages", {"request_id": 1, "id": [1]}))["status"] == "Accepted"
    await _reported(csms, "O04", {1})
    assert (await sent(csms, station, "GetDisplayMessages", {"request_id": 2, "priority": "InFront"}))[
        "status"] == "Accepted"
    await _reported(csms, "O04", {1, 2})
    assert (await sent(csms, station, "GetDisplayMessages", {"request_id": 3, "state": "Idle"}))["status"] == \
        "Accepted"
    await _reported(csms, "O04", {1, 2, 3})
    assert received(station, "GetDisplayMessages") == [{"requestId": 1, "id": [1]},
                                                       {"requestId": 2, "priority": "InFront"},
                                                       {"requestId": 3, "state": "Idle"}]
    assert (await sent(csms, station, "GetDisplayMessages", {"request_id": 4, "id": [99]}))["status"] == "Unknown"
