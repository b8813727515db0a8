"""TC_B_09_CSMS — SetVariables, a single value (B05): OCPPCommCtrlr.OfflineThreshold = "123";
Accepted, and the value is the station's Actual value in the kept device model."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import actual, booted_station, command, entry, received, stored


async def test_tc_b_09(csms):
    station = await booted_station(csms, "TC-B-09")

    answer = await command(csms, "TC-B-09", "SetVariables",
                           {"set_variable_data": [entry("OCPPCommCtrlr", "OfflineThreshold", "123")]})

    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["result"]["set_variable_result"]
    assert result["attribute_status"] == "Accepted"
    (request,) = received(station, "SetVariables")
    assert request["setVariableData"] == [{"component": {"name": "OCPPCommCtrlr"},
                                           "variable": {"name": "OfflineThreshold"}, "attributeValue": "123"}]
    assert station.device_model.value("OCPPCommCtrlr", "OfflineThreshold") == "123"
    assert actual(await stored(csms, "TC-B-09", "OCPPCommCtrlr", "OfflineThreshold")) == "123"
