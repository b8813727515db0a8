"""Blocks N and O's storage on both backends: events written in one insert with the monitor's
severity and bounded per station, filtered reads, report streams and customer data with their
retention."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from api.csms import report_streams
from api.csms.customer_information import service as customer_information
from api.csms.monitoring import service as monitoring
from policies.model import CustomerInformationPolicy, MonitoringPolicy
from storage.customer_information import CustomerInformationPart
from storage.db import session_scope
from storage.monitoring import StationEvent
from storage.report_requests import CUSTOMER_INFORMATION, ReportRequest

pytestmark = pytest.mark.fast

AT = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)


def _event(number: int, component: str, monitor_id: int | None = None) -> dict:
    event = {"eventId": number, "timestamp": "x", "trigger": "Alerting", "actualValue": str(number),
             "eventNotificationType": "CustomMonitor", "component": {"name": component, "evse": {"id": 1}},
             "variable": {"name": "Temperature"}}
    if monitor_id is not None:
        event["variableMonitoringId"] = monitor_id
    return event


def test_events_bounded_with_severity_and_filtered(engine):
    with session_scope(engine) as session:
        monitoring.set_requested(session, "S-1", "token:t", {"setMonitoringData": [{
            "component": {"name": "TemperatureSensor"}, "variable": {"name": "Temperature"},
            "type": "UpperThreshold", "value": 70, "severity": 2}]})
        monitoring.set_answered(session, "S-1", {}, {"setMonitoringResult": [{
            "id": 5, "status": "Accepted", "type": "UpperThreshold", "severity": 2,
            "component": {"name": "TemperatureSensor"}, "variable": {"name": "Temperature"}}]})
    policy = MonitoringPolicy(events_per_station=4)
    for batch in range(3):
        with session_scope(engine) as session:
            monitoring.record_events(session, "S-1", [
                (_event(batch * 2, "TemperatureSensor", 5), AT + timedelta(minutes=batch)),
                (_event(batch * 2 + 1, "EVSE"), AT + timedelta(minutes=batch))], policy)
    with session_scope(engine) as session:
        kept = session.exec(select(StationEvent).order_by(StationEvent.id)).all()
        assert [e.event_id for e in kept] == [2, 3, 4, 5]
        assert {(e.component_name, e.severity) for e in kept} == {("TemperatureSensor", 2), ("EVSE", None)}
        severe = monitoring.events(session, "S-1", monitoring.EventFilter(severity_at_most=3))
        assert [e.event_id for e in severe] == [4, 2]
        window = monitoring.events(session, None, monitoring.EventFilter(
            component="EVSE", since=AT + timedelta(minutes=2), until=AT + timedelta(minutes=3)))
        assert [e.event_id for e in window] == [5]


def test_customer_data_stream_and_retention(engine):
    policy = CustomerInformationPolicy()
    with session_scope(engine) as session:
        customer_information.STREAM.requested(session, "S-2", "token:t", {
            "requestId": 1, "report": True, "clear": True, "customerIdentifier": "0815"})
        for seq_no, tbc in ((0, True), (1, False)):
            kept = customer_information.record_part(session, "S-2", {
                "requestId": 1, "seqNo": seq_no, "tbc": tbc, "data": f"part {seq_no}",
                "generatedAt": "2025-06-01T12:00:00Z"}, policy)
            assert kept.stored
    with session_scope(engine) as session:
        row = report_streams.find(session, "S-2", CUSTOMER_INFORMATION, 1)
        assert (row.parts, row.complete, report_streams.subject(row)) == (
            2, True, {"report": True, "clear": True, "customerIdentifier": "0815"})
        assert customer_information.prune(session, older_than=timedelta(days=30)) == 0
        assert customer_information.prune(session, older_than=timedelta(days=30),
                                          now=datetime.now(timezone.utc) + timedelta(days=31)) == 1
    with session_scope(engine) as session:
        assert session.exec(select(ReportRequest)).all() == [] and session.exec(select(CustomerInformationPart)).all() == []
