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
