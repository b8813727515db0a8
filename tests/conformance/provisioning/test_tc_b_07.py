"""TC_B_07_CSMS — GetVariables, several values in one request (B06): one GetVariablesRequest
with every entry, one answer per entry, an unknown variable answered as such."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import booted_station, command, entry, received


async def test_tc_b_07(csms):
    station = await booted_station(csms, "TC-B-07")
    asked = [entry("OCPPCommCtrlr", "OfflineThreshold"), entry("OCPPCommCtrlr", "HeartbeatInterval"),
             entry("ClockCtrlr", "TimeSource"), entry("OCPPCommCtrlr", "NoSuchVariable")]

    answer = await command(csms, "TC-B-07", "GetVariables", {"get_variable_data": asked})

    assert answer.status_code == 200, answer.text
    results = answer.json()["result"]["get_variable_result"]
    assert [(r["variable"]["name"], r["attribute_status"]) for r in results] == [
        ("OfflineThreshold", "Accepted"), ("HeartbeatInterval", "Accepted"), ("TimeSource", "Accepted"),
        ("NoSuchVariable", "UnknownVariable")]
    (request,) = received(station, "GetVariables")  # one message: within the station's limits
    assert len(request["getVariableData"]) == 4
