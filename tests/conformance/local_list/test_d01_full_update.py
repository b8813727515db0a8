"""D01 — Send a full local list: the CSMS reads LocalAuthListCtrlr.ItemsPerMessage and
BytesPerMessage (GetVariables), sends SendLocalList Full with every token whose selector matches
the station and its idTokenInfo, and keeps the version and what the station accepted."""

from __future__ import annotations

from authorization_support import StationList, add_token, booted_station
from ocpp_support import csms  # noqa: F401 - fixture
from trust_anchor_support import actions, audit


async def test_d01_full_update_from_the_token_store(csms):
    await add_token(csms, "04ALL", local_list="*", group_id_token="FLEET")
    await add_token(csms, "04HERE", local_list="D01-*", status="Blocked")
    await add_token(csms, "04ELSEWHERE", local_list="OTHER-*")
    await add_token(csms, "04ONLINE")
    station = await booted_station(csms, "D01-FULL")
    station_list = StationList(station)

    answer = await csms.rest.post("/api/v1/stations/D01-FULL/local-list", json={"mode": "full"},
                                  headers=csms.headers("operator"))

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["outcome"], result["version"], result["limits"]["source"]) == ("Accepted", 1, "station")
    assert actions(station)[-3:] == ["GetVariables", "GetVariables", "SendLocalList"]
    (sent,) = station_list.requests
    assert sent["updateType"] == "Full" and sent["versionNumber"] == 1
    assert station_list.tokens == {"04ALL": "Accepted", "04HERE": "Blocked"}
    assert station_list.entries[("04ALL", "ISO14443")]["groupIdToken"] == {"idToken": "FLEET", "type": "Central"}

    kept = (await csms.rest.get("/api/v1/stations/D01-FULL/local-list", headers=csms.headers("auditor"))).json()
    assert (kept["version"], kept["last_update_type"], kept["last_outcome"]) == (1, "Full", "Accepted")
    assert (kept["items_per_message"], kept["bytes_per_message"]) == (100, 20_000)
    assert sorted(e["idToken"]["idToken"] for e in kept["entries"]) == ["04ALL", "04HERE"]
    (entry,) = audit(csms, "local_list.send", "D01-FULL")
    assert entry.outcome == "success"


async def test_d01_full_update_refused_by_the_station_changes_nothing_kept(csms):
    await add_token(csms, "04ALL", local_list="*")
    station = await booted_station(csms, "D01-FAILED")
    station_list = StationList(station, answers=["Failed"])

    result = (await csms.rest.post("/api/v1/stations/D01-FAILED/local-list", json={"mode": "full"},
                                   headers=csms.headers("operator"))).json()

    assert result["outcome"] == "Failed" and result["version"] == 0
    assert station_list.tokens == {}
    kept = (await csms.rest.get("/api/v1/stations/D01-FAILED/local-list", headers=csms.headers("auditor"))).json()
    assert (kept["version"], kept["last_outcome"], kept["entries"]) == (0, "Failed", [])
    (entry,) = audit(csms, "local_list.send", "D01-FAILED")
    assert entry.outcome == "failed"


async def test_d01_a_dry_run_shows_the_messages_and_sends_nothing(csms):
    await add_token(csms, "04ALL", local_list="*")
    station = await booted_station(csms, "D01-DRY")
    station_list = StationList(station)

    result = (await csms.rest.post("/api/v1/stations/D01-DRY/local-list", json={"mode": "full", "dry_run": True},
                                   headers=csms.headers("operator"))).json()

    assert result["dry_run"] and result["limits"]["source"] == "fallback"
    (message,) = result["messages"]
    assert message["payload"]["localAuthorizationList"] == [{"idToken": {"idToken": "04ALL", "type": "ISO14443"},
                                                             "idTokenInfo": {"status": "Accepted"}}]
    assert station_list.requests == [] and "GetVariables" not in actions(station)


async def test_d01_a_station_not_connected_is_refused_before_anything(csms):
    csms.add_station("D01-OFFLINE")
    answer = await csms.rest.post("/api/v1/stations/D01-OFFLINE/local-list", json={"mode": "full"},
                                  headers=csms.headers("operator"))
    assert answer.status_code == 409 and answer.json()["rule"] == "station.not_connected"
    answer = await csms.rest.post("/api/v1/stations/NOBODY/local-list", json={"mode": "full"},
                                  headers=csms.headers("operator"))
    assert answer.status_code == 404
    answer = await csms.rest.post("/api/v1/stations/D01-OFFLINE/local-list", json={"mode": "full"},
                                  headers=csms.headers("auditor"))
    assert answer.status_code == 403


async def test_d01_a_station_at_the_last_version_gets_its_full_list_from_version_1_again(csms):
    # 2147483647 is a valid versionNumber for a station to report (GetLocalListVersion). Numbered
    # above it, a full update left OCPP's 32 bits and failed at every try; a Full replaces the
    # list whatever its version, so it starts again at 1.
    await add_token(csms, "04ALL", local_list="*")
    station = await booted_station(csms, "D01-TOP")
    station_list = StationList(station, version=2147483647)
    read = await csms.rest.post("/api/v1/stations/D01-TOP/local-list/version", headers=csms.headers("operator"))
    assert read.json()["reported_version"] == 2147483647

    answer = await csms.rest.post("/api/v1/stations/D01-TOP/local-list", json={"mode": "full"},
                                  headers=csms.headers("operator"))
    assert answer.status_code == 200, answer.text
    assert (answer.json()["outcome"], answer.json()["version"]) == ("Accepted", 1)
    (sent,) = station_list.requests
    assert (sent["updateType"], sent["versionNumber"]) == ("Full", 1)
    assert (station_list.version, station_list.tokens) == (1, {"04ALL": "Accepted"})
    (entry,) = audit(csms, "local_list.send", "D01-TOP")
    assert entry.outcome == "success"


async def test_d01_the_limits_are_read_again_before_each_update(csms):
    """Read once and kept for good: a station that once reported 1 entry a message (before a
    firmware update raised it) got every later update cut to single entries."""
    await add_token(csms, "04ONE", local_list="*")
    await add_token(csms, "04TWO", local_list="*")
    station = await booted_station(csms, "D01-LIMITS")
    station_list = StationList(station, items=1)
    first = (await csms.rest.post("/api/v1/stations/D01-LIMITS/local-list", json={"mode": "full"},
                                  headers=csms.headers("operator"))).json()
    assert first["outcome"] == "Accepted" and len(station_list.requests) == 2

    station.device_model.set("LocalAuthListCtrlr", "ItemsPerMessage", 50)
    second = (await csms.rest.post("/api/v1/stations/D01-LIMITS/local-list", json={"mode": "full"},
                                   headers=csms.headers("operator"))).json()

    assert second["outcome"] == "Accepted" and second["limits"]["items_per_message"] == 50, second
    assert len(station_list.requests) == 3 and len(station_list.requests[-1]["localAuthorizationList"]) == 2
    kept = (await csms.rest.get("/api/v1/stations/D01-LIMITS/local-list", headers=csms.headers("auditor"))).json()
    assert kept["items_per_message"] == 50
