"""O05 — Clear a display message: ClearDisplayMessage with the id; Accepted marks it cleared
(no longer among the shown ones); Unknown (the station does not have it) is kept as such."""

from __future__ import annotations

from core_support import booted_station, get, received
from customer_support import display_messages, message, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def test_o05_clear_accepted_and_unknown(csms):
    station = await booted_station(csms, "O05")
    await sent(csms, station, "SetDisplayMessage", {"message": message(7, "closing at 22:00")})
    await sent(csms, station, "SetDisplayMessage", {"message": message(8, "gone already")})
    del station.display.messages[8]

    assert (await sent(csms, station, "ClearDisplayMessage", {"id": 7}))["status"] == "Accepted"
    assert (await sent(csms, station, "ClearDisplayMessage", {"id": 8}))["status"] == "Unknown"

    assert received(station, "ClearDisplayMessage") == [{"id": 7}, {"id": 8}]
    rows = await display_messages(csms, "O05")
    assert (rows[7]["status"], rows[8]["status"]) == ("cleared", "Unknown")
    assert await get(csms, "/api/v1/stations/O05/display-messages?shown=true") == []
    assert station.display.messages == {}
