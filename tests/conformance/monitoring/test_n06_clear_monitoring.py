"""N06 — Clear / remove monitoring: ClearVariableMonitoring with three ids; the station answers
Accepted (removed), NotFound (it has no such monitor) and Rejected (a hard-wired one); the CSMS
marks the first two cleared and keeps the third."""

from __future__ import annotations

from core_support import booted_station, eventually, get, received
from customer_support import monitor, monitors, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def test_n06_clear_accepted_not_found_rejected(csms):
    station = await booted_station(csms, "N06")
    hard_wired = station.monitoring.hard_wire("TemperatureSensor", "Temperature")
    made = await sent(csms, station, "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("EVSE", "Power", "UpperThreshold", 22000, 4), monitor("ChargingStation", "Power", "Delta", 500, 6)]})
    custom, gone = (r["id"] for r in made["set_monitoring_result"])
    del station.monitoring.monitors[gone]  # the station lost it (a reset, a local change)
    requested = await sent(csms, station, "GetMonitoringReport", {"request_id": 1})
    assert requested["status"] == "Accepted"

    async def reported():
        return len(await monitors(csms, "N06")) == 3
    assert await eventually(reported)

    result = await sent(csms, station, "ClearVariableMonitoring", {"id": [custom, gone, hard_wired]})

    assert received(station, "ClearVariableMonitoring") == [{"id": [custom, gone, hard_wired]}]
    assert [(r["id"], r["status"]) for r in result["clear_monitoring_result"]] == [
        (custom, "Accepted"), (gone, "NotFound"), (hard_wired, "Rejected")]
    (left,) = await monitors(csms, "N06")
    assert (left["monitor_id"], left["source"], left["status"]) == (hard_wired, "reported", "Accepted")
    cleared = {m["monitor_id"]: m["status"] for m in await get(csms, "/api/v1/stations/N06/monitors?cleared=true")}
    assert cleared == {custom: "cleared", gone: "cleared", hard_wired: "Accepted"}
