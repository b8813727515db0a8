"""TC_C_38_CSMS — Clear the authorization cache, Rejected (C11): the station's Rejected reaches
the operator as the answer (not an error of the CSMS) and is audited."""

from __future__ import annotations

from authorization_support import booted_station
from ocpp_support import csms  # noqa: F401 - fixture
from trust_anchor_support import audit, requests


async def test_tc_c_38_clear_cache_rejected(csms):
    station = await booted_station(csms, "TC-C-38")
    station.handlers["ClearCache"] = lambda _st, _payload: {"status": "Rejected"}

    answer = await csms.rest.post("/api/v1/stations/TC-C-38/commands/ClearCache", headers=csms.headers("operator"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "answered" and answer.json()["result"]["status"] == "Rejected"
    assert requests(station, "ClearCache") == [{}]
    (result,) = audit(csms, "station.call.result", "TC-C-38")
    assert "ClearCache" in result.detail
