"""TC_C_37_CSMS — Clear the authorization cache, Accepted (C11): the operator asks through REST,
the CSMS sends ClearCacheRequest, the station's Accepted is read and audited."""

from __future__ import annotations

from authorization_support import booted_station
from ocpp_support import csms  # noqa: F401 - fixture
from trust_anchor_support import audit, requests


async def test_tc_c_37_clear_cache_accepted(csms):
    station = await booted_station(csms, "TC-C-37")
    station.handlers["ClearCache"] = lambda _st, _payload: {"status": "Accepted"}

    answer = await csms.rest.post("/api/v1/stations/TC-C-37/commands/ClearCache", headers=csms.headers("operator"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "answered" and answer.json()["result"]["status"] == "Accepted"
    assert requests(station, "ClearCache") == [{}]
    (result,) = audit(csms, "station.call.result", "TC-C-37")
    assert "ClearCache" in result.detail and "answered" in result.detail
