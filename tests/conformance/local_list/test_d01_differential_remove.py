"""D01 — Differential update that removes: a token deleted (or no longer selected for the
station) goes as an AuthorizationData without idTokenInfo, which removes it from the list."""

from __future__ import annotations

from authorization_support import StationList, add_token, booted_station
from ocpp_support import csms  # noqa: F401 - fixture


async def test_d01_differential_update_removes_tokens(csms):
    await add_token(csms, "04KEPT", local_list="*")
    deleted = await add_token(csms, "04DELETED", local_list="*")
    moved = await add_token(csms, "04MOVED", local_list="*")
    station = await booted_station(csms, "D01-REMOVE")
    station_list = StationList(station)
    post = lambda mode: csms.rest.post("/api/v1/stations/D01-REMOVE/local-list", json={"mode": mode},  # noqa: E731
                                       headers=csms.headers("operator"))
    await post("full")

    await csms.rest.delete(f"/api/v1/id-tokens/{deleted['id']}", headers=csms.headers("operator"))
    await csms.rest.patch(f"/api/v1/id-tokens/{moved['id']}", json={"local_list": "ELSEWHERE-*"},
                          headers=csms.headers("operator"))
    result = (await post("differential")).json()

    assert result["outcome"] == "Accepted"
    assert sorted(station_list.requests[-1]["localAuthorizationList"], key=lambda i: i["idToken"]["idToken"]) == [
        {"idToken": {"idToken": "04DELETED", "type": "ISO14443"}},
        {"idToken": {"idToken": "04MOVED", "type": "ISO14443"}}]
    assert station_list.tokens == {"04KEPT": "Accepted"}
    kept = (await csms.rest.get("/api/v1/stations/D01-REMOVE/local-list", headers=csms.headers("auditor"))).json()
    assert [e["idToken"]["idToken"] for e in kept["entries"]] == ["04KEPT"]
