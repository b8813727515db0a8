"""N05 — Set monitoring level: the CSMS sends SetMonitoringLevel; Accepted or Rejected is kept
with the level asked for; a severity outside 0-9 is refused before sending. After the level is
set, the station sends only events of monitors at that level or more severe."""

from __future__ import annotations

from core_support import answer, booted_station, command, get, received
from customer_support import monitor, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def test_n05_level_accepted(csms):
    station = await booted_station(csms, "N05")
    result = await sent(csms, station, "SetMonitoringLevel", {"severity": 3})
    assert result["status"] == "Accepted" and received(station, "SetMonitoringLevel") == [{"severity": 3}]
    setting = await get(csms, "/api/v1/stations/N05/monitoring")
    assert (setting["monitoring_level"], setting["level_status"]) == (3, "Accepted")

    made = await sent(csms, station, "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("EVSE", "Power", "UpperThreshold", 22000, 2), monitor("ChargingStation", "Power", "Delta", 500, 7)]})
    severe, mild = (r["id"] for r in made["set_monitoring_result"])
    assert station.monitoring.reportable(severe) and not station.monitoring.reportable(mild)


async def test_n05_level_rejected(csms):
    station = await booted_station(csms, "N05-R")
    answer(station, "SetMonitoringLevel", {"status": "Rejected"})
    assert (await sent(csms, station, "SetMonitoringLevel", {"severity": 5}))["status"] == "Rejected"
    setting = await get(csms, "/api/v1/stations/N05-R/monitoring")
    assert (setting["monitoring_level"], setting["level_status"]) == (5, "Rejected")


async def test_n05_a_level_outside_0_to_9_is_refused(csms):
    station = await booted_station(csms, "N05-S")
    refused = await command(csms, "N05-S", "SetMonitoringLevel", {"severity": 10})
    assert refused.status_code == 422 and refused.json()["rule"] == "call.monitoring.severity", refused.text
    assert received(station, "SetMonitoringLevel") == []
