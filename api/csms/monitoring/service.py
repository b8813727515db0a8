"""Block N's monitoring (N02-N08): the monitors we set and the station reports, the monitoring
base and level, and the events stations send (NotifyEvent), with no OCPP in it.

A monitor row is made for each SetMonitoringData before the request leaves (status requested);
the station's SetMonitoringResult then gives it its status and, when Accepted, the id the station
assigned (results are matched to rows by component, variable, type and severity, since a station
need not answer in order). ClearVariableMonitoring Accepted (or NotFound: the station has no
such monitor) marks a monitor cleared; so does an Accepted SetMonitoringBase FactoryDefault or
HardWiredOnly for every monitor we set (N03: custom monitors are removed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert
from sqlmodel import Session, select

from api.csms import report_streams
from api.csms.provisioning.device_model import finite_number
from policies.model import Decision, MonitoringPolicy
from storage.monitoring import (
    CLEARED,
    REPORTED,
    REQUESTED,
    SET,
    MonitoringSetting,
    Place,
    StationEvent,
    VariableMonitor,
)
from storage.report_requests import MONITORING_REPORT
from storage.types import utcnow

_ACCEPTED, _NOT_FOUND = "Accepted", "NotFound"
# N03: these bases remove the custom monitors (ours).
_BASES_WITHOUT_CUSTOM = {"FactoryDefault", "HardWiredOnly"}
SEVERITY_MIN, SEVERITY_MAX = 0, 9


def check_level(payload: Mapping[str, Any]) -> Decision:
    """SetMonitoringLevel (N05): severities run from 0 (Danger) to 9 (Debug)."""
    if not SEVERITY_MIN <= payload.get("severity", -1) <= SEVERITY_MAX:
        return Decision.refuse("call.monitoring.severity", "severity must be 0 (Danger) to 9 (Debug)")
    return Decision.allow()


def check_monitors(payload: Mapping[str, Any]) -> Decision:
    """SetVariableMonitoring (N04): each monitor's severity from 0 to 9, its value a finite number."""
    for index, entry in enumerate(payload.get("setMonitoringData", ())):
        if not SEVERITY_MIN <= entry.get("severity", -1) <= SEVERITY_MAX:
            return Decision.refuse("call.monitoring.severity", "each monitor's severity must be 0 (Danger) to 9 "
                                                               "(Debug)")
        # The raw call's JSON may carry an integer of hundreds of digits: no threshold a station
        # compares with, nor one the monitor's row can hold.
        if finite_number(entry.get("value")) is None:
            return Decision.refuse("call.monitoring.value", f"setMonitoringData[{index}].value must be a finite "
                                                            "number within a double's range")
    return Decision.allow()


def non_finite_value(payload: Mapping[str, Any]) -> str | None:
    """NotifyMonitoringReport: the first monitor whose value is no finite number (NaN, Infinity,
    an integer beyond a double), as its field's path; None when every value is one."""
    for index, monitoring in enumerate(payload.get("monitor", ())):
        for position, monitor in enumerate(monitoring["variableMonitoring"]):
            if finite_number(monitor["value"]) is None:
                return f"monitor[{index}].variableMonitoring[{position}].value"
    return None


# --- where a monitor or an event is --------------------------------------------------------------

def place(component: Mapping[str, Any], variable: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of storage.monitoring.Place for a ComponentType and VariableType."""
    evse = component.get("evse") or {}
    return Place(component_name=component["name"], component_instance=component.get("instance"),
                 evse_id=evse.get("id"), connector_id=evse.get("connectorId"), variable_name=variable["name"],
                 variable_instance=variable.get("instance")).model_dump()


def _at(model: Any, where: Mapping[str, Any]) -> list[Any]:
    return [getattr(model, name) == value if value is not None else getattr(model, name).is_(None)
            for name, value in where.items()]


def _active_count(session: Session, station_id: str) -> int:
    return session.exec(select(func.count()).select_from(VariableMonitor).where(
        VariableMonitor.station_id == station_id, VariableMonitor.status != CLEARED)).one()


def _by_monitor_id(session: Session, station_id: str, monitor_id: int) -> VariableMonitor | None:
    """The monitor the station holds under ``monitor_id`` (Accepted by it, or reported by it)."""
    return session.exec(select(VariableMonitor).where(VariableMonitor.station_id == station_id,
                                                      VariableMonitor.monitor_id == monitor_id,
                                                      VariableMonitor.status == _ACCEPTED)
                        .order_by(VariableMonitor.id.desc())).first()


# --- SetVariableMonitoring (N04) ------------------------------------------------------------------

def set_requested(session: Session, station_id: str, actor_name: str, payload: Mapping[str, Any]) -> None:
    """Operators make these rows (as they make reservations); the policy's bound is on what a
    station reports."""
    for entry in payload["setMonitoringData"]:
        where = place(entry["component"], entry["variable"])
        # A SetMonitoringData with an id replaces that monitor (N04.FR.13): once Accepted, this row
        # takes the id over (set_answered).
        session.add(VariableMonitor(station_id=station_id, **where, type=entry["type"],
                                    value=entry["value"], severity=entry["severity"],
                                    transaction=entry.get("transaction", False), source=SET,
                                    requested_by=actor_name[:100]))
    session.flush()


def _requested_row(session: Session, station_id: str, where: Mapping[str, Any], kind: str, severity: int
                   ) -> VariableMonitor | None:
    return session.exec(select(VariableMonitor).where(
        VariableMonitor.station_id == station_id, VariableMonitor.status == REQUESTED, VariableMonitor.source == SET,
        VariableMonitor.type == kind, VariableMonitor.severity == severity, *_at(VariableMonitor, where))
        .order_by(VariableMonitor.id)).first()


def set_answered(session: Session, station_id: str, _payload: Mapping[str, Any], response: Mapping[str, Any],
                 _asked_by: str = "") -> None:
    now = utcnow()
    for result in response["setMonitoringResult"]:
        row = _requested_row(session, station_id, place(result["component"], result["variable"]),
                             result["type"], result["severity"])
        if row is None:
            continue
        if result["status"] == _ACCEPTED and result.get("id") is not None:
            # The id is the station's: whatever we knew under it before is what this one replaced.
            for replaced in session.exec(select(VariableMonitor).where(
                    VariableMonitor.station_id == station_id, VariableMonitor.monitor_id == result["id"],
                    VariableMonitor.status != CLEARED, VariableMonitor.id != row.id)):
                replaced.status, replaced.updated_at = CLEARED, now
                session.add(replaced)
            row.monitor_id = result["id"]
        row.status = result["status"]
        row.status_reason = (result.get("statusInfo") or {}).get("reasonCode")
        row.updated_at = now
        session.add(row)
        session.flush()


def set_unanswered(session: Session, station_id: str, payload: Mapping[str, Any], outcome: str) -> None:
    for entry in payload["setMonitoringData"]:
        row = _requested_row(session, station_id, place(entry["component"], entry["variable"]), entry["type"],
                             entry["severity"])
        if row is not None:
            row.status, row.updated_at = outcome, utcnow()
            session.add(row)
            session.flush()


# --- ClearVariableMonitoring (N06) ----------------------------------------------------------------

def clear_answered(session: Session, station_id: str, _payload: Mapping[str, Any], response: Mapping[str, Any],
                   _asked_by: str = "") -> None:
    for result in response["clearMonitoringResult"]:
        if result["status"] not in (_ACCEPTED, _NOT_FOUND):
            continue  # Rejected: the monitor stays (e.g. a hard-wired one)
        row = _by_monitor_id(session, station_id, result["id"])
        if row is not None:
            row.status, row.updated_at = CLEARED, utcnow()
            session.add(row)


# --- SetMonitoringBase (N03), SetMonitoringLevel (N05) --------------------------------------------

def _setting(session: Session, station_id: str) -> MonitoringSetting:
    return session.get(MonitoringSetting, station_id) or MonitoringSetting(station_id=station_id)


def base_answered(session: Session, station_id: str, payload: Mapping[str, Any], response: Mapping[str, Any],
                  _asked_by: str = "") -> None:
    setting = _setting(session, station_id)
    setting.monitoring_base, setting.base_status, setting.updated_at = payload["monitoringBase"], \
        response["status"], utcnow()
    session.add(setting)
    if response["status"] == _ACCEPTED and payload["monitoringBase"] in _BASES_WITHOUT_CUSTOM:
        for row in session.exec(select(VariableMonitor).where(VariableMonitor.station_id == station_id,
                                                              VariableMonitor.source == SET,
                                                              VariableMonitor.status == _ACCEPTED)):
            row.status, row.updated_at = CLEARED, utcnow()
            session.add(row)


def level_answered(session: Session, station_id: str, payload: Mapping[str, Any], response: Mapping[str, Any],
                   _asked_by: str = "") -> None:
    setting = _setting(session, station_id)
    setting.monitoring_level, setting.level_status, setting.updated_at = payload["severity"], response["status"], \
        utcnow()
    session.add(setting)


def setting(session: Session, station_id: str) -> MonitoringSetting | None:
    return session.get(MonitoringSetting, station_id)


# --- GetMonitoringReport (N02) --------------------------------------------------------------------

# GetMonitoringReport's answer: Accepted, Rejected, NotSupported or EmptyResultSet.
REPORT = report_streams.Stream(MONITORING_REPORT, ("componentVariable", "monitoringCriteria"))


def record_report(session: Session, station_id: str, payload: Mapping[str, Any], policy: MonitoringPolicy) -> bool:
    """One NotifyMonitoringReport: each monitor as the station has it. False when we never asked
    (nothing kept); monitors beyond the policy's number per station are not kept."""
    if report_streams.part(session, station_id, MONITORING_REPORT, payload["requestId"], payload["seqNo"],
                           payload.get("tbc", False)) is None:
        return False
    room = policy.monitors_per_station - _active_count(session, station_id)
    now = utcnow()
    for monitoring in payload.get("monitor", ()):
        where = place(monitoring["component"], monitoring["variable"])
        for monitor in monitoring["variableMonitoring"]:
            row = _by_monitor_id(session, station_id, monitor["id"])
            if row is None:
                if room <= 0:
                    continue
                room -= 1
                row = VariableMonitor(station_id=station_id, monitor_id=monitor["id"], source=REPORTED,
                                      type=monitor["type"], value=monitor["value"], severity=monitor["severity"],
                                      **where)
            for name, value in where.items():
                setattr(row, name, value)
            row.type, row.value, row.severity = monitor["type"], monitor["value"], monitor["severity"]
            row.transaction, row.status, row.updated_at = monitor["transaction"], _ACCEPTED, now
            session.add(row)
            session.flush()
    return True


def monitors(session: Session, station_id: str, *, active: bool = True, limit: int = 1000,
             after_id: int | None = None) -> list[VariableMonitor]:
    query = select(VariableMonitor).where(VariableMonitor.station_id == station_id)
    if active:
        query = query.where(VariableMonitor.status != CLEARED)
    if after_id is not None:
        query = query.where(VariableMonitor.id > after_id)
    return list(session.exec(query.order_by(VariableMonitor.id).limit(limit)))


# --- NotifyEvent (N07, N08) -----------------------------------------------------------------------

def record_events(session: Session, station_id: str, events: Iterable[tuple[Mapping[str, Any], datetime]],
                  policy: MonitoringPolicy) -> int:
    """Keep each eventData (with its parsed timestamp); the station's oldest beyond the policy go.
    One Core insert for the message: building an ORM object per event cost more than storing it."""
    now, events = utcnow(), list(events)
    monitor_ids = {event["variableMonitoringId"] for event, _ in events if "variableMonitoringId" in event}
    severities = dict(session.execute(select(VariableMonitor.monitor_id, VariableMonitor.severity).where(
        VariableMonitor.station_id == station_id, VariableMonitor.monitor_id.in_(monitor_ids),
        VariableMonitor.status == _ACCEPTED)).all()) if monitor_ids else {}
    rows = []
    for event, timestamp in events:
        monitor_id = event.get("variableMonitoringId")
        evse = event["component"].get("evse") or {}
        rows.append({
            "station_id": station_id, "event_id": event["eventId"], "timestamp": timestamp,
            "trigger": event["trigger"], "cause": event.get("cause"), "actual_value": event["actualValue"],
            "tech_code": event.get("techCode"), "tech_info": event.get("techInfo"), "cleared": event.get("cleared"),
            "transaction_id": event.get("transactionId"), "variable_monitoring_id": monitor_id,
            "event_notification_type": event["eventNotificationType"],
            "severity": severities.get(monitor_id), "received_at": now,
            "component_name": event["component"]["name"], "component_instance": event["component"].get("instance"),
            "evse_id": evse.get("id"), "connector_id": evse.get("connectorId"),
            "variable_name": event["variable"]["name"], "variable_instance": event["variable"].get("instance")})
    if rows:
        session.execute(insert(StationEvent), rows)
        _prune_station(session, station_id, policy.events_per_station)
    return len(rows)


def _prune_station(session: Session, station_id: str, keep: int) -> None:
    oldest_kept = session.exec(select(StationEvent.id).where(StationEvent.station_id == station_id)
                               .order_by(StationEvent.id.desc()).offset(keep - 1).limit(1)).first()
    if oldest_kept is not None:
        session.exec(delete(StationEvent).where(StationEvent.station_id == station_id, StationEvent.id < oldest_kept))


@dataclass(frozen=True)
class EventFilter:
    severity_at_most: int | None = None     # 0 is the most severe: "severity <= 3" is Danger to Error
    component: str | None = None
    variable: str | None = None
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def events(session: Session, station_id: str | None, where: EventFilter, *, limit: int = 100,
           before_id: int | None = None) -> list[StationEvent]:
    """Newest first; ``station_id`` None: every station's."""
    query = select(StationEvent)
    if station_id is not None:
        query = query.where(StationEvent.station_id == station_id)
    if where.severity_at_most is not None:
        query = query.where(StationEvent.severity <= where.severity_at_most)
    if where.component is not None:
        query = query.where(StationEvent.component_name == where.component)
    if where.variable is not None:
        query = query.where(StationEvent.variable_name == where.variable)
    if where.trigger is not None:
        query = query.where(StationEvent.trigger == where.trigger)
    if where.since is not None:
        query = query.where(StationEvent.timestamp >= where.since)
    if where.until is not None:
        query = query.where(StationEvent.timestamp < where.until)
    if before_id is not None:
        query = query.where(StationEvent.id < before_id)
    return list(session.exec(query.order_by(StationEvent.id.desc()).limit(limit)))


def prune_events(session: Session, *, older_than: timedelta, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - older_than
    return session.exec(delete(StationEvent).where(StationEvent.received_at < cutoff)).rowcount or 0
