"""D01 — A list larger than the station takes in one message: cut into SendLocalList messages of
at most ItemsPerMessage entries and BytesPerMessage bytes — the first Full, the rest
Differential, each with the next version — and, without the variables, a small fallback."""

from __future__ import annotations

import json

from authorization_support import StationList, booted_station
from ocpp_support import csms  # noqa: F401 - fixture


async def _import(csms, count: int, message: str = "") -> None:
    rows = [{"id_token": f"04{i:06d}", "type": "ISO14443", "local_list": "*",
             **({"message_format": "UTF8", "message_content": message} if message else {})} for i in range(count)]
    answer = await csms.rest.post("/api/v1/id-tokens/import", content=json.dumps(rows),
                                  headers={**csms.headers("operator"), "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text


async def test_d01_split_by_items_per_message(csms):
    await _import(csms, 7)
    station = await booted_station(csms, "D01-ITEMS")
    station_list = StationList(station, items=3)

    result = (await csms.rest.post("/api/v1/stations/D01-ITEMS/local-list", json={"mode": "full"},
                                   headers=csms.headers("operator"))).json()

    assert [(r["updateType"], r["versionNumber"], len(r["localAuthorizationList"])) for r in station_list.requests] \
        == [("Full", 1, 3), ("Differential", 2, 3), ("Differential", 3, 1)]
    assert (result["outcome"], result["version"], len(station_list.tokens)) == ("Accepted", 3, 7)


async def test_d01_split_by_bytes_per_message(csms):
    await _import(csms, 12, "m" * 200)
    station = await booted_station(csms, "D01-BYTES")
    station_list = StationList(station, items=100, size=1500)

    result = (await csms.rest.post("/api/v1/stations/D01-BYTES/local-list", json={"mode": "full"},
                                   headers=csms.headers("operator"))).json()

    assert result["outcome"] == "Accepted" and len(station_list.tokens) == 12
    assert len(station_list.requests) > 2
    for request in station_list.requests:
        frame = json.dumps([2, "0" * 36, "SendLocalList", request], separators=(",", ":"))
        assert len(frame.encode()) <= 1500


async def test_d01_without_the_variables_the_fallback_limits_hold(csms):
    await _import(csms, 45)
    station = await booted_station(csms, "D01-FALLBACK")
    station_list = StationList(station, items=None, size=None)

    result = (await csms.rest.post("/api/v1/stations/D01-FALLBACK/local-list", json={"mode": "full"},
                                   headers=csms.headers("operator"))).json()

    assert result["limits"] == {"items_per_message": 20, "bytes_per_message": 4096, "source": "fallback"}
    assert [len(r["localAuthorizationList"]) for r in station_list.requests] == [20, 20, 5]
    assert len(station_list.tokens) == 45
