"""TC_B_06_CSMS — GetVariables, a single value (B06): the operator asks
OCPPCommCtrlr.OfflineThreshold; the request carries no attributeType or Actual; the answer is
read into the typed result and kept in the station's device model."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import actual, booted_station, command, entry, received, stored


async def test_tc_b_06(csms):
    station = await booted_station(csms, "TC-B-06")
    station.device_model.set("OCPPCommCtrlr", "OfflineThreshold", 456)

    answer = await command(csms, "TC-B-06", "GetVariables",
                           {"get_variable_data": [entry("OCPPCommCtrlr", "OfflineThreshold")]})

    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["result"]["get_variable_result"]
    assert (result["attribute_status"], result["attribute_value"]) == ("Accepted", "456")
    (request,) = received(station, "GetVariables")
    (data,) = request["getVariableData"]
    assert data.get("attributeType", "Actual") == "Actual"
    assert data["component"] == {"name": "OCPPCommCtrlr"} and data["variable"] == {"name": "OfflineThreshold"}
    row = await stored(csms, "TC-B-06", "OCPPCommCtrlr", "OfflineThreshold")
    assert actual(row) == "456" and row["attributes"][0]["source"] == "GetVariables"
