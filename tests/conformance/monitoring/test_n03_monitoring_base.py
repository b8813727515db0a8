"""N03 — Set monitoring base: All keeps the custom monitors; FactoryDefault (Accepted) removes
them on the station and in the CSMS's records; a Rejected or NotSupported answer changes
nothing but is kept with the base asked for."""

from __future__ import annotations

import pytest
from core_support import answer, booted_station, get
from customer_support import monitor, monitors, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def test_n03_factory_default_removes_the_custom_monitors(csms):
    station = await booted_station(csms, "N03")
    await sent(csms, station, "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("EVSE", "Power", "UpperThreshold", 22000, 4)]})
    assert (await sent(csms, station, "SetMonitoringBase", {"monitoring_base": "All"}))["status"] == "Accepted"
    assert len(await monitors(csms, "N03")) == 1

    assert (await sent(csms, station, "SetMonitoringBase", {"monitoring_base": "FactoryDefault"}))["status"] == \
        "Accepted"

    assert station.monitoring.monitors == {} and await monitors(csms, "N03") == []
    setting = await get(csms, "/api/v1/stations/N03/monitoring")
    assert (setting["monitoring_base"], setting["base_status"]) == ("FactoryDefault", "Accepted")


@pytest.mark.parametrize("status", ["Rejected", "NotSupported"])
async def test_n03_a_base_not_taken_changes_nothing(csms, status):
    case = f"N03-{status}"
    station = await booted_station(csms, case)
    await sent(csms, station, "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("EVSE", "Power", "UpperThreshold", 22000, 4)]})
    answer(station, "SetMonitoringBase", {"status": status})

    assert (await sent(csms, station, "SetMonitoringBase", {"monitoring_base": "HardWiredOnly"}))["status"] == status

    assert len(await monitors(csms, case)) == 1
    setting = await get(csms, f"/api/v1/stations/{case}/monitoring")
    assert (setting["monitoring_base"], setting["base_status"]) == ("HardWiredOnly", status)
