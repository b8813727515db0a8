"""NotifyEvent and NotifyMonitoringReport called directly (no socket), on a real SQLite
database: every field of an event kept (and the connector states still reaching block G), the
bound per station, the retention by age, reports only for requests we sent, the monitor bound."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from fake_connection import FakeStation, register, rows

from api.core.audit import run_in_session
from api.csms.monitoring import service
from api.csms.monitoring.retention import prune_station_events
from api.ocpp.framing import OcppError
from policies.model import MonitoringPolicy
from storage.monitoring import StationEvent, VariableMonitor
from storage.types import utcnow

pytestmark = pytest.mark.fast

NOW = "2025-06-01T12:00:00Z"


def _event(event_id: int, component: dict, variable: str, value: str, **extra) -> dict:
    return {"eventId": event_id, "timestamp": NOW, "trigger": "Delta", "actualValue": value,
            "eventNotificationType": "HardWiredNotification", "component": component, "variable": {"name": variable},
            **extra}


def _bounded(ctx, **figures):
    return dataclasses.replace(ctx, policy=dataclasses.replace(ctx.policy, monitoring=MonitoringPolicy(**figures)))


async def test_every_event_is_kept_and_connector_states_still_reach_availability(ctx):
    register(ctx, "EV-1")
    station = FakeStation(ctx, "EV-1")
    assert await station.send("NotifyEvent", {"generatedAt": NOW, "seqNo": 0, "eventData": [
        _event(1, {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, "AvailabilityState", "Occupied"),
        _event(2, {"name": "TemperatureSensor", "instance": "inlet"}, "Temperature", "81", trigger="Alerting",
               cause=1, techCode="T1", techInfo="hot", cleared=False, transactionId="tx-1", variableMonitoringId=4),
    ]}) == {}

    assert station.live.connectors == {(1, 1): "Occupied"}
    first, second = rows(ctx, StationEvent)
    assert (first.component_name, first.evse_id, first.connector_id, first.severity) == ("Connector", 1, 1, None)
    assert (second.trigger, second.cause, second.tech_code, second.tech_info, second.cleared, second.transaction_id,
            second.variable_monitoring_id, second.component_instance, second.timestamp.isoformat()) == (
        "Alerting", 1, "T1", "hot", False, "tx-1", 4, "inlet", "2025-06-01T12:00:00+00:00")


async def test_a_station_keeps_at_most_its_bound_of_events(ctx):
    register(ctx, "EV-2")
    register(ctx, "EV-3")
    bounded = _bounded(ctx, events_per_station=3)
    for number in range(5):
        await FakeStation(bounded, "EV-2").send("NotifyEvent", {"generatedAt": NOW, "seqNo": 0, "eventData": [
            _event(number, {"name": "ChargingStation"}, "Power", str(number))]})
    await FakeStation(bounded, "EV-3").send("NotifyEvent", {"generatedAt": NOW, "seqNo": 0, "eventData": [
        _event(9, {"name": "ChargingStation"}, "Power", "other")]})
    assert [e.actual_value for e in rows(ctx, StationEvent, StationEvent.station_id == "EV-2")] == ["2", "3", "4"]
    assert len(rows(ctx, StationEvent, StationEvent.station_id == "EV-3")) == 1


async def test_events_older_than_the_retention_go(ctx):
    register(ctx, "EV-4")
    await FakeStation(ctx, "EV-4").send("NotifyEvent", {"generatedAt": NOW, "seqNo": 0, "eventData": [
        _event(1, {"name": "ChargingStation"}, "Power", "old"), _event(2, {"name": "ChargingStation"}, "Power", "new")]})

    def age(session):
        old = rows(ctx, StationEvent)[0]
        old.received_at = utcnow() - timedelta(days=ctx.policy.monitoring.event_retention_days + 1)
        session.add(old)
    run_in_session(ctx, age)
    assert prune_station_events(ctx) == 1
    assert [e.actual_value for e in rows(ctx, StationEvent)] == ["new"]


async def test_a_bad_timestamp_is_refused_and_nothing_kept(ctx):
    register(ctx, "EV-5")
    with pytest.raises(OcppError):
        await FakeStation(ctx, "EV-5").send("NotifyEvent", {"generatedAt": NOW, "seqNo": 0, "eventData": [
            _event(1, {"name": "ChargingStation"}, "Power", "1"),
            _event(2, {"name": "ChargingStation"}, "Power", "2", timestamp="9999-12-31T23:59:59-23:59")]})
    assert rows(ctx, StationEvent) == []


def _report(request_id: int, seq_no: int, tbc: bool, *monitor_ids: int) -> dict:
    return {"requestId": request_id, "seqNo": seq_no, "tbc": tbc, "generatedAt": NOW, "monitor": [
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}, "variableMonitoring": [
            {"id": i, "transaction": False, "value": 100.0 * i, "type": "UpperThreshold", "severity": 5}
            for i in monitor_ids]}]}


async def test_a_report_we_never_asked_for_is_not_kept(ctx):
    register(ctx, "MR-1")
    assert await FakeStation(ctx, "MR-1").send("NotifyMonitoringReport", _report(7, 0, False, 1)) == {}
    assert rows(ctx, VariableMonitor) == []


async def test_reported_monitors_are_kept_up_to_the_bound(ctx):
    register(ctx, "MR-2")
    run_in_session(ctx, lambda session: service.REPORT.requested(session, "MR-2", "token:t", {"requestId": 1}))
    station = FakeStation(_bounded(ctx, monitors_per_station=3), "MR-2")
    assert await station.send("NotifyMonitoringReport", _report(1, 0, True, 1, 2)) == {}
    assert await station.send("NotifyMonitoringReport", _report(1, 1, False, 2, 3, 4)) == {}
    kept = rows(ctx, VariableMonitor)
    assert [(m.monitor_id, m.evse_id, m.source, m.status) for m in kept] == [
        (1, 1, "reported", "Accepted"), (2, 1, "reported", "Accepted"), (3, 1, "reported", "Accepted")]


_NOT_FINITE = pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**400],
                                      ids=["nan", "inf", "10**400"])


@_NOT_FINITE
async def test_a_reported_monitor_value_that_is_no_number_is_refused_by_name(ctx, value):
    # NaN was an InternalError on SQLite (NOT NULL) and kept on PostgreSQL, read back as null;
    # an integer beyond a double was an InternalError, or storage.value on PostgreSQL.
    register(ctx, "MR-NAN")
    run_in_session(ctx, lambda session: service.REPORT.requested(session, "MR-NAN", "token:t", {"requestId": 1}))
    report = _report(1, 0, False, 1, 2)
    report["monitor"][0]["variableMonitoring"][1]["value"] = value
    with pytest.raises(OcppError) as refused:
        await FakeStation(ctx, "MR-NAN").send("NotifyMonitoringReport", report)
    assert (refused.value.code, refused.value.details) == (
        "PropertyConstraintViolation", {"field": "monitor[0].variableMonitoring[1].value"})
    assert rows(ctx, VariableMonitor) == []


@_NOT_FINITE
def test_a_monitor_value_that_is_no_number_is_refused_before_it_leaves(value):
    # Through the raw call, whose JSON may carry such a value, it reached the monitor's row first.
    entry = {"component": {"name": "EVSE"}, "variable": {"name": "Power"}, "type": "Delta", "value": value,
             "severity": 3}
    decision = service.check_monitors({"setMonitoringData": [{**entry, "value": 1e308}, entry]})
    assert (decision.rule, "setMonitoringData[1].value" in decision.reason) == ("call.monitoring.value", True)


@pytest.mark.parametrize(("severity", "allowed"), [(0, True), (9, True), (-1, False), (10, False)])
def test_severities_run_from_0_to_9(severity, allowed):
    entry = {"component": {"name": "EVSE"}, "variable": {"name": "Power"}, "type": "Delta", "value": 1,
             "severity": severity}
    assert bool(service.check_level({"severity": severity})) is allowed
    assert bool(service.check_monitors({"setMonitoringData": [entry]})) is allowed
