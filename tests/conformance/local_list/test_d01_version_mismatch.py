"""D01 — A differential update the station answers VersionMismatch: the CSMS asks the station's
version (GetLocalListVersion) and sends a full update numbered above it instead."""

from __future__ import annotations

from authorization_support import StationList, add_token, booted_station
from ocpp_support import csms  # noqa: F401 - fixture
from trust_anchor_support import actions


async def test_d01_version_mismatch_falls_back_to_a_full_update(csms):
    await add_token(csms, "04A", local_list="*")
    station = await booted_station(csms, "D01-MISMATCH")
    station_list = StationList(station, version=17, answers=["VersionMismatch"])

    result = (await csms.rest.post("/api/v1/stations/D01-MISMATCH/local-list", json={"mode": "differential"},
                                   headers=csms.headers("operator"))).json()

    assert [m["status"] for m in result["messages"]] == ["VersionMismatch", "Accepted"]
    assert actions(station)[-3:] == ["SendLocalList", "GetLocalListVersion", "SendLocalList"]
    first, fallback = station_list.requests
    assert (first["updateType"], first["versionNumber"]) == ("Differential", 1)
    assert (fallback["updateType"], fallback["versionNumber"]) == ("Full", 18)
    assert (result["outcome"], result["version"], station_list.tokens) == ("Accepted", 18, {"04A": "Accepted"})
    kept = (await csms.rest.get("/api/v1/stations/D01-MISMATCH/local-list", headers=csms.headers("auditor"))).json()
    assert (kept["version"], kept["reported_version"]) == (18, 17)
