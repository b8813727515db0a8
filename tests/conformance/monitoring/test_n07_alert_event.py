"""N07 — Alert event: a monitor the CSMS set is tripped; the station sends NotifyEvent (trigger
Alerting, variableMonitoringId, techCode/techInfo), later the same event cleared. The CSMS answers,
keeps every field with the monitor's severity, and REST filters the events by station, severity,
component, variable and time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from core_support import booted_station, get
from customer_support import monitor, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def test_n07_alert_event_kept_and_filterable(csms):
    station = await booted_station(csms, "N07")
    made = await sent(csms, station, "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("TemperatureSensor", "Temperature", "UpperThreshold", 70, 2)]})
    monitor_id = made["set_monitoring_result"][0]["id"]

    tripped = station.monitoring.event(monitor_id, "74.5", tech_code="OverTemp", tech_info="inlet sensor")
    assert await station.monitoring.notify(station, [tripped]) == {}
    assert await station.monitoring.notify(station, [station.monitoring.event(monitor_id, "65.0", cleared=True)]) == {}

    events = await get(csms, "/api/v1/stations/N07/events?component=TemperatureSensor")
    assert [(e["actual_value"], e["cleared"]) for e in events] == [("65.0", True), ("74.5", False)]
    alert = events[1]
    assert (alert["trigger"], alert["variable_monitoring_id"], alert["severity"], alert["tech_code"],
            alert["tech_info"], alert["event_notification_type"], alert["component_name"],
            alert["variable_name"]) == ("Alerting", monitor_id, 2, "OverTemp", "inlet sensor", "CustomMonitor",
                                        "TemperatureSensor", "Temperature")
    # Connector availability events of the Booted state are kept too, without a severity.
    assert len(await get(csms, "/api/v1/events?station_id=N07&severity=2")) == 2
    assert len(await get(csms, "/api/v1/events?station_id=N07&severity=1")) == 0
    assert len(await get(csms, "/api/v1/stations/N07/events?component=TemperatureSensor&variable=Temperature")) == 2
    assert len(await get(csms, "/api/v1/stations/N07/events?component=Connector")) == 1
    later = quote((datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat())
    assert await get(csms, f"/api/v1/stations/N07/events?since={later}") == []
    assert len(await get(csms, f"/api/v1/stations/N07/events?until={later}&trigger=Alerting")) == 2
    naive = await csms.rest.get("/api/v1/events?since=2025-01-01T00:00:00", headers=csms.headers("auditor"))
    assert naive.status_code == 422
