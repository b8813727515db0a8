"""D01 — Two updates asked for one station at once: they go one after the other, so the second
is planned from what the first left and no version is sent twice."""

from __future__ import annotations

import asyncio

from authorization_support import StationList, add_token, booted_station
from ocpp_support import csms  # noqa: F401 - fixture


async def test_d01_concurrent_updates_do_not_reuse_a_version(csms):
    await add_token(csms, "04A", local_list="*")
    station = await booted_station(csms, "D01-TWICE")
    station_list = StationList(station)

    answers = await asyncio.gather(*(csms.rest.post("/api/v1/stations/D01-TWICE/local-list", json={"mode": "full"},
                                                    headers=csms.headers("operator")) for _ in range(2)))

    assert [a.json()["outcome"] for a in answers] == ["Accepted", "Accepted"]
    assert [r["versionNumber"] for r in station_list.requests] == [1, 2]
