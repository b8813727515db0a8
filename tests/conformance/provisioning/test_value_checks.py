"""SetVariables values checked against the characteristics the station reported, before
anything leaves: the refusal names the variable and the limit, the station receives nothing,
and the refusal is audited."""

from __future__ import annotations

import pytest
from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import command, entry, get, inventoried, received


def _narrow(station):
    station.device_model.define("OCPPCommCtrlr", "HeartbeatInterval", 5, data_type="integer", min_limit=1,
                                max_limit=10)
    station.device_model.define("ClockCtrlr", "TimeZone", "UTC", data_type="string", mutability="ReadOnly")


@pytest.mark.parametrize(("value", "rule", "named"), [
    (entry("OCPPCommCtrlr", "HeartbeatInterval", "300"), "variables.max_limit", "maxLimit 10"),
    (entry("OCPPCommCtrlr", "HeartbeatInterval", "often"), "variables.data_type", "integer"),
    (entry("ClockCtrlr", "TimeZone", "CET"), "variables.read_only", "ReadOnly"),
    (entry("ClockCtrlr", "TimeSource", "GPS"), "variables.values_list", "valuesList"),
])
async def test_a_value_outside_what_the_station_reported_never_leaves(csms, value, rule, named):
    station_id = f"VALUES-{rule.split('.')[1]}"
    station = await inventoried(csms, station_id, _narrow)
    answer = await command(csms, station_id, "SetVariables", {"set_variable_data": [value]})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["rule"] == rule and named in body["error"]
    assert body["variable"] == f"{value['component']['name']}.{value['variable']['name']}"
    assert received(station, "SetVariables") == []
    audit = await get(csms, "/api/v1/audit?limit=5", role="auditor")
    assert any(e.get("outcome") == "refused" and e.get("detail", {}).get("rule") == rule
               for e in (audit if isinstance(audit, list) else audit.get("entries", [])))


async def test_within_the_limits_it_is_sent(csms):
    station = await inventoried(csms, "VALUES-OK", _narrow)
    answer = await command(csms, "VALUES-OK", "SetVariables",
                           {"set_variable_data": [entry("OCPPCommCtrlr", "HeartbeatInterval", "10")]})
    assert answer.status_code == 200 and answer.json()["result"]["set_variable_result"][0]["attribute_status"] \
        == "Accepted"
    assert len(received(station, "SetVariables")) == 1
