"""O06 — Replace a display message: SetDisplayMessage with an id the station already shows
replaces it, on the station and in the CSMS's records (one row per id)."""

from __future__ import annotations

from core_support import booted_station
from customer_support import display_messages, message, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def test_o06_same_id_replaces(csms):
    station = await booted_station(csms, "O06")
    await sent(csms, station, "SetDisplayMessage", {"message": message(30, "0.39 EUR/kWh")})

    replaced = await sent(csms, station, "SetDisplayMessage", {"message": message(30, "0.35 EUR/kWh from today",
                                                                                  priority="InFront")})

    assert replaced["status"] == "Accepted"
    rows = await display_messages(csms, "O06")
    assert list(rows) == [30]
    assert (rows[30]["content"], rows[30]["priority"], rows[30]["status"]) == ("0.35 EUR/kWh from today", "InFront",
                                                                               "Accepted")
    assert station.display.messages[30]["message"]["content"] == "0.35 EUR/kWh from today"
