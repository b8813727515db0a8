"""D01 — Differential update: after a full list, only new and changed tokens are sent, with their
idTokenInfo, and the version goes up by one per message."""

from __future__ import annotations

from authorization_support import StationList, add_token, booted_station
from ocpp_support import csms  # noqa: F401 - fixture


async def test_d01_differential_update_sends_only_the_changes(csms):
    await add_token(csms, "04KEPT", local_list="*")
    changed = await add_token(csms, "04CHANGED", local_list="*")
    station = await booted_station(csms, "D01-DIFF")
    station_list = StationList(station)
    post = lambda mode: csms.rest.post("/api/v1/stations/D01-DIFF/local-list", json={"mode": mode},  # noqa: E731
                                       headers=csms.headers("operator"))
    assert (await post("full")).json()["version"] == 1

    await csms.rest.patch(f"/api/v1/id-tokens/{changed['id']}", json={"status": "Blocked"},
                          headers=csms.headers("operator"))
    await add_token(csms, "04NEW", local_list="*")
    result = (await post("differential")).json()

    assert (result["outcome"], result["version"]) == ("Accepted", 2)
    sent = station_list.requests[-1]
    assert (sent["updateType"], sent["versionNumber"]) == ("Differential", 2)
    assert {item["idToken"]["idToken"]: item["idTokenInfo"]["status"] for item in sent["localAuthorizationList"]} \
        == {"04CHANGED": "Blocked", "04NEW": "Accepted"}
    assert station_list.tokens == {"04KEPT": "Accepted", "04CHANGED": "Blocked", "04NEW": "Accepted"}

    nothing = (await post("differential")).json()
    assert (nothing["outcome"], nothing["messages"], len(station_list.requests)) == ("nothing to send", [], 2)


async def test_d01_a_list_sent_through_the_generic_call_is_kept_as_the_station_holds_it(csms):
    """Sent by hand, an accepted list was not kept: the next differential update started from the
    list before it, and sent what the station held already (or failed to remove what it held)."""
    await add_token(csms, "04STORE", local_list="*")
    station = await booted_station(csms, "D01-RAW")
    station_list = StationList(station)
    raw = await csms.rest.post("/api/v1/stations/D01-RAW/calls", headers=csms.headers("officer"), json={
        "action": "SendLocalList", "payload": {"versionNumber": 7, "updateType": "Full", "localAuthorizationList": [
            {"idToken": {"idToken": "04BYHAND", "type": "ISO14443"}, "idTokenInfo": {"status": "Accepted"}}]}})
    assert raw.status_code == 200 and raw.json()["response"] == {"status": "Accepted"}, raw.text

    kept = (await csms.rest.get("/api/v1/stations/D01-RAW/local-list", headers=csms.headers("auditor"))).json()
    assert (kept["version"], kept["last_update_type"], kept["last_outcome"]) == (7, "Full", "Accepted")
    assert [e["idToken"]["idToken"] for e in kept["entries"]] == ["04BYHAND"]

    result = (await csms.rest.post("/api/v1/stations/D01-RAW/local-list", json={"mode": "differential"},
                                   headers=csms.headers("operator"))).json()
    assert (result["outcome"], result["version"]) == ("Accepted", 8)
    sent = station_list.requests[-1]["localAuthorizationList"]
    assert {item["idToken"]["idToken"]: "idTokenInfo" in item for item in sent} == {"04STORE": True, "04BYHAND": False}
    assert station_list.tokens == {"04STORE": "Accepted"}
