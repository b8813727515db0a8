"""B08 GetReport (componentVariable, componentCriteria) and B07 SummaryInventory: the typed
command leaves as asked, the station's parts (of its ItemsPerMessage[GetReport]) are kept with
the request's filter, and REST browses the result by component, variable, attribute type and page."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import booted_station, command, get, received, report_row


async def test_get_report_by_component_variable(csms):
    station = await booted_station(csms, "B08-CV")
    station.device_model.define("DeviceDataCtrlr", "ItemsPerMessage", 1, instance="GetReport", data_type="integer",
                                mutability="ReadOnly")
    body = {"request_id": 8, "component_variable": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "ClockCtrlr"}}]}

    answer = await command(csms, "B08-CV", "GetReport", body)

    assert answer.status_code == 200 and answer.json()["result"]["status"] == "Accepted", answer.text
    (request,) = received(station, "GetReport")
    assert request["componentVariable"][1] == {"component": {"name": "ClockCtrlr"}}
    report = await report_row(csms, "B08-CV", 8)
    assert (report["kind"], report["status"], report["parts"]) == ("GetReport", "complete", 2)  # one per part
    assert report["criteria"]["componentVariable"][0]["variable"] == {"name": "HeartbeatInterval"}
    rows = await get(csms, "/api/v1/stations/B08-CV/device-model")
    assert sorted((r["component"], r["variable"]) for r in rows) == [("ClockCtrlr", "TimeSource"),
                                                                    ("OCPPCommCtrlr", "HeartbeatInterval")]
    (heartbeat,) = [r for r in rows if r["variable"] == "HeartbeatInterval"]
    assert (heartbeat["data_type"], heartbeat["min_limit"], heartbeat["max_limit"]) == ("integer", 1, 86400)


async def test_get_report_by_component_criteria_with_nothing_to_report(csms):
    station = await booted_station(csms, "B08-CRIT")
    answer = await command(csms, "B08-CRIT", "GetReport", {"request_id": 9, "component_criteria": ["Problem"]})
    assert answer.json()["result"]["status"] == "EmptyResultSet"
    assert received(station, "GetReport")[0]["componentCriteria"] == ["Problem"]
    (report,) = await get(csms, "/api/v1/stations/B08-CRIT/device-reports")
    assert (report["status"], report["answer"]) == ("refused", "EmptyResultSet")


async def test_browse_filters_and_pages(csms):
    station = await booted_station(csms, "B08-BROWSE")
    for n in range(5):
        station.device_model.define("SampledDataCtrlr", f"Setting{n}", n, data_type="integer")
    sent = await command(csms, "B08-BROWSE", "GetBaseReport", {"request_id": 3, "report_base": "FullInventory"})
    assert sent.json()["result"]["status"] == "Accepted"
    await report_row(csms, "B08-BROWSE", 3)

    base = "/api/v1/stations/B08-BROWSE/device-model?component=SampledDataCtrlr"
    first = await get(csms, f"{base}&limit=3")
    rest = await get(csms, f"{base}&limit=3&after_id={first[-1]['id']}")
    assert [r["variable"] for r in first + rest] == [f"Setting{n}" for n in range(5)]
    assert await get(csms, f"{base}&variable=Setting2&attribute_type=Actual") != []
    assert await get(csms, f"{base}&attribute_type=Target") == []   # the simulator reports Actual only
    items = await get(csms, "/api/v1/stations/B08-BROWSE/device-model?component=DeviceDataCtrlr&variable=ItemsPerMessage")
    assert sorted(r["variable_instance"] for r in items) == ["GetReport", "GetVariables", "SetVariables"]
    missing = await csms.rest.get("/api/v1/stations/NOBODY/device-model", headers=csms.headers("auditor"))
    assert missing.status_code == 404


async def test_summary_inventory(csms):
    await booted_station(csms, "B07-SUMMARY")
    answer = await command(csms, "B07-SUMMARY", "GetBaseReport", {"request_id": 4, "report_base": "SummaryInventory"})
    # The simulator models no EVSE or Connector component: nothing to summarise.
    assert answer.json()["result"]["status"] == "EmptyResultSet"
    (report,) = await get(csms, "/api/v1/stations/B07-SUMMARY/device-reports")
    assert (report["report_base"], report["status"]) == ("SummaryInventory", "refused")
