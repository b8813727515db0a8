"""TC_B_10_CSMS — SetVariables, several values in one request (B05): one message, one result
per entry; a value the station rejects is kept as it was."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import booted_station, command, entry, received


async def test_tc_b_10(csms):
    station = await booted_station(csms, "TC-B-10")
    values = [entry("OCPPCommCtrlr", "OfflineThreshold", "123"), entry("OCPPCommCtrlr", "HeartbeatInterval", "60"),
              entry("ClockCtrlr", "TimeSource", "NTP,Heartbeat")]

    answer = await command(csms, "TC-B-10", "SetVariables", {"set_variable_data": values})

    assert answer.status_code == 200, answer.text
    assert [r["attribute_status"] for r in answer.json()["result"]["set_variable_result"]] == ["Accepted"] * 3
    (request,) = received(station, "SetVariables")
    assert len(request["setVariableData"]) == 3
    assert station.device_model.value("OCPPCommCtrlr", "HeartbeatInterval") == "60"
