"""N08 — Periodic event: a Periodic monitor reports its variable at its interval; each
NotifyEvent (trigger Periodic) is answered and kept in order, filterable by trigger."""

from __future__ import annotations

from core_support import booted_station, get
from customer_support import monitor, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def test_n08_periodic_events_kept(csms):
    station = await booted_station(csms, "N08")
    made = await sent(csms, station, "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("EVSE", "Power", "Periodic", 60, 8)]})
    (result,) = made["set_monitoring_result"]
    assert result["status"] == "Accepted"

    for watts in ("7200", "7350", "7100"):
        event = station.monitoring.event(result["id"], watts, trigger="Periodic")
        assert await station.monitoring.notify(station, [event]) == {}

    periodic = await get(csms, "/api/v1/stations/N08/events?trigger=Periodic")
    assert [e["actual_value"] for e in periodic] == ["7100", "7350", "7200"]
    assert {(e["severity"], e["variable_monitoring_id"]) for e in periodic} == {(8, result["id"])}
    assert len(await get(csms, "/api/v1/stations/N08/events?limit=2")) == 2
    page = await get(csms, f"/api/v1/stations/N08/events?trigger=Periodic&before_id={periodic[1]['id']}")
    assert [e["actual_value"] for e in page] == ["7200"]
