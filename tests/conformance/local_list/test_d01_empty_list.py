"""D01 — An empty list: with no token selected for the station, a full update is one
SendLocalList Full without localAuthorizationList, which empties the station's list."""

from __future__ import annotations

from authorization_support import StationList, add_token, booted_station
from ocpp_support import csms  # noqa: F401 - fixture


async def test_d01_full_update_with_no_tokens_empties_the_list(csms):
    token = await add_token(csms, "04ONLY", local_list="*")
    station = await booted_station(csms, "D01-EMPTY")
    station_list = StationList(station)
    post = lambda: csms.rest.post("/api/v1/stations/D01-EMPTY/local-list", json={"mode": "full"},  # noqa: E731
                                  headers=csms.headers("operator"))
    await post()
    assert station_list.tokens == {"04ONLY": "Accepted"}

    await csms.rest.delete(f"/api/v1/id-tokens/{token['id']}", headers=csms.headers("operator"))
    result = (await post()).json()

    assert result["outcome"] == "Accepted" and result["version"] == 2
    assert station_list.requests[-1] == {"versionNumber": 2, "updateType": "Full"}
    assert station_list.tokens == {}
