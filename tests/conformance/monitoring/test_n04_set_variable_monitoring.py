"""N04 — Set variable monitoring: one SetVariableMonitoring with a monitor for each outcome the
station can give (Accepted with the id it assigns, UnknownComponent, UnknownVariable,
UnsupportedMonitorType, Rejected, Duplicate); the CSMS keeps each monitor with its answer, the
accepted one under the station's id. A severity outside 0-9, or a value that is no finite number,
is refused before sending. A monitor set again with its id (N04.FR.13) replaces it."""

from __future__ import annotations

from core_support import booted_station, command, get, received
from customer_support import monitor, monitors, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def test_n04_every_outcome_is_kept_with_its_monitor(csms):
    station = await booted_station(csms, "N04")
    station.monitoring.hard_wire("TemperatureSensor", "Temperature", "UpperThreshold")

    result = await sent(csms, station, "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("EVSE", "Power", "UpperThreshold", 22000, 4),
        monitor("Compressor", "Power", "UpperThreshold", 1, 4),
        monitor("EVSE", "Pressure", "UpperThreshold", 1, 4),
        monitor("EVSE", "Power", "PeriodicClockAligned", 900, 8),
        monitor("EVSE", "AvailabilityState", "Delta", -1, 5),
        monitor("TemperatureSensor", "Temperature", "UpperThreshold", 70, 2),
    ]})

    statuses = [r["status"] for r in result["set_monitoring_result"]]
    assert statuses == ["Accepted", "UnknownComponent", "UnknownVariable", "UnsupportedMonitorType", "Rejected",
                        "Duplicate"]
    assigned = result["set_monitoring_result"][0]["id"]
    kept = {(m["component_name"], m["variable_name"], m["type"]): m for m in await monitors(csms, "N04")}
    assert {key: m["status"] for key, m in kept.items()} == {
        ("EVSE", "Power", "UpperThreshold"): "Accepted",
        ("Compressor", "Power", "UpperThreshold"): "UnknownComponent",
        ("EVSE", "Pressure", "UpperThreshold"): "UnknownVariable",
        ("EVSE", "Power", "PeriodicClockAligned"): "UnsupportedMonitorType",
        ("EVSE", "AvailabilityState", "Delta"): "Rejected",
        ("TemperatureSensor", "Temperature", "UpperThreshold"): "Duplicate"}
    accepted = kept[("EVSE", "Power", "UpperThreshold")]
    assert (accepted["monitor_id"], accepted["value"], accepted["severity"], accepted["source"]) == (
        assigned, 22000, 4, "set")
    assert accepted["requested_by"].startswith("token:")


async def test_n04_a_monitor_set_again_with_its_id_replaces_it(csms):
    station = await booted_station(csms, "N04-R")
    first = await sent(csms, station, "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("EVSE", "Power", "UpperThreshold", 22000, 4)]})
    monitor_id = first["set_monitoring_result"][0]["id"]

    again = await sent(csms, station, "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("EVSE", "Power", "UpperThreshold", 11000, 3, id=monitor_id)]})

    assert again["set_monitoring_result"][0]["status"] == "Accepted" and again["set_monitoring_result"][0]["id"] == monitor_id
    (kept,) = await monitors(csms, "N04-R")
    assert (kept["monitor_id"], kept["value"], kept["severity"]) == (monitor_id, 11000, 3)
    assert len(await monitors(csms, "N04-R", cleared="true")) == 2


async def test_n04_a_severity_outside_0_to_9_is_refused_before_sending(csms):
    station = await booted_station(csms, "N04-S")
    refused = await command(csms, "N04-S", "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("EVSE", "Power", "UpperThreshold", 22000, 10)]})
    assert refused.status_code == 422 and refused.json()["rule"] == "call.monitoring.severity", refused.text
    assert received(station, "SetVariableMonitoring") == [] and await monitors(csms, "N04-S") == []


async def test_n04_a_value_beyond_a_double_is_refused_before_it_is_kept_or_sent(csms):
    # The raw call's JSON may carry an integer of 400 digits (no NaN: the text guard has those).
    # It reached the monitor's row first: a 500 on SQLite, storage.value on PostgreSQL.
    station = await booted_station(csms, "N04-V")
    payload = ('{"action":"SetVariableMonitoring","payload":{"setMonitoringData":[{"component":{"name":"EVSE"},'
               '"variable":{"name":"Power"},"type":"UpperThreshold","value":1' + "0" * 400 + ',"severity":3}]}}')
    refused = await csms.rest.post("/api/v1/stations/N04-V/calls", content=payload,
                                   headers={**csms.headers(), "content-type": "application/json"})
    assert refused.status_code == 422 and refused.json()["rule"] == "call.monitoring.value", refused.text
    assert "setMonitoringData[0].value" in refused.json()["error"]
    assert received(station, "SetVariableMonitoring") == [] and await monitors(csms, "N04-V", cleared="true") == []


async def test_n04_the_monitors_page_by_id_so_the_newest_are_reachable(csms):
    station = await booted_station(csms, "N04-P")
    await sent(csms, station, "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("EVSE", "Power", "UpperThreshold", 1000 * n, 4) for n in range(1, 6)]})
    whole = await get(csms, "/api/v1/stations/N04-P/monitors")
    assert len(whole) == 5 and [m["id"] for m in whole] == sorted(m["id"] for m in whole)

    pages, after = [], None
    while True:
        page = await get(csms, "/api/v1/stations/N04-P/monitors?limit=2" + (f"&after_id={after}" if after else ""))
        if not page:
            break
        pages.append([m["id"] for m in page])
        after = page[-1]["id"]
    assert pages == [[m["id"] for m in whole][i:i + 2] for i in (0, 2, 4)]
