"""O03 — Get all display messages: GetDisplayMessages without a filter; the station answers
Accepted and lists its messages in NotifyDisplayMessages parts (tbc), each answered; the CSMS
marks them reported (a message set on the station by other means included) and the report
complete. With no message, the station answers Unknown, which is kept with the request."""

from __future__ import annotations

from core_support import booted_station, eventually, received
from customer_support import display_messages, message, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def test_o03_all_messages_reported(csms):
    station = await booted_station(csms, "O03")
    for message_id in (1, 2):
        await sent(csms, station, "SetDisplayMessage", {"message": message(message_id, f"message {message_id}")})
    station.display.messages[3] = {"id": 3, "priority": "NormalCycle",
                                   "message": {"format": "ASCII", "content": "set at the station"}}

    assert (await sent(csms, station, "GetDisplayMessages", {"request_id": 5}))["status"] == "Accepted"

    assert received(station, "GetDisplayMessages") == [{"requestId": 5}]

    async def all_reported():
        rows = await display_messages(csms, "O03")
        return len(rows) == 3 and all(row["reported_at"] for row in rows.values()) and rows
    rows = await eventually(all_reported)
    assert (rows[3]["origin"], rows[3]["status"], rows[3]["content"]) == ("station", "reported", "set at the station")
    assert {rows[1]["status"], rows[2]["status"]} == {"Accepted"}


async def test_o03_no_messages_unknown(csms):
    station = await booted_station(csms, "O03-U")
    assert (await sent(csms, station, "GetDisplayMessages", {"request_id": 6}))["status"] == "Unknown"
    assert await display_messages(csms, "O03-U") == {}
