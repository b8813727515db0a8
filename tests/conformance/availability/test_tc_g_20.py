"""TC_G_20_CSMS — Lock failure (G05): the station reports through NotifyEvent that the
ConnectorPlugRetentionLock of a connector has a Problem (true). The CSMS answers, keeps the
problem with the connector's state (shown until the station clears it) and in its history, and
handles connector status both through StatusNotification and NotifyEvent."""

from __future__ import annotations

from core_support import booted_station, get, now, report, states
from ocpp_support import csms  # noqa: F401 - fixture


def _lock_problem(value: str) -> dict:
    return {"generatedAt": now(), "seqNo": 0, "eventData": [{
        "eventId": 7, "timestamp": now(), "trigger": "Delta", "actualValue": value, "techCode": "LockFailure",
        "eventNotificationType": "HardWiredNotification",
        "component": {"name": "ConnectorPlugRetentionLock", "evse": {"id": 1, "connectorId": 1}},
        "variable": {"name": "Problem"}}]}


async def test_tc_g_20_connector_plug_retention_lock_problem(csms):
    station = await booted_station(csms, "TC-G-20")
    await report(station, 1, 1, "Occupied")

    assert await station.call("NotifyEvent", _lock_problem("true")) == {}

    (state,) = await get(csms, "/api/v1/stations/TC-G-20/connectors")
    assert (state["evse_id"], state["connector_id"], state["status"]) == (1, 1, "Occupied")
    assert state["problem"] == "ConnectorPlugRetentionLock" and state["problem_since"]
    history = await get(csms, "/api/v1/stations/TC-G-20/connectors/history")
    assert history[0]["kind"] == "Problem" and history[0]["value"] == "ConnectorPlugRetentionLock: true"
    assert {(e["source"], e["value"]) for e in history} >= {("StatusNotification", "Occupied"),
                                                            ("NotifyEvent", "Occupied")}

    assert await station.call("NotifyEvent", _lock_problem("false")) == {}
    (cleared,) = await get(csms, "/api/v1/stations/TC-G-20/connectors")
    assert cleared["problem"] is None
    assert await states(csms, "TC-G-20") == {(1, 1): "Occupied"}


async def test_an_evse_wide_availability_from_notify_event_is_kept_as_the_evse(csms):
    station = await booted_station(csms, "TC-G-20-E")
    event = _lock_problem("Faulted")["eventData"][0]
    event.update(component={"name": "EVSE", "evse": {"id": 1}}, variable={"name": "AvailabilityState"})
    assert await station.call("NotifyEvent", {"generatedAt": now(), "seqNo": 0, "eventData": [event]}) == {}
    assert await states(csms, "TC-G-20-E") == {(1, 0): "Faulted", (1, 1): "Available"}
