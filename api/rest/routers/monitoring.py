"""Block N02-N08 over REST: the monitors of a station's variables (set by us, reported by the
station), its monitoring base and level, its monitoring reports, and the events stations report
(NotifyEvent), filterable. Setting and clearing monitors are the typed commands
(``…/commands/SetVariableMonitoring``, ``ClearVariableMonitoring``, ``SetMonitoringBase``,
``SetMonitoringLevel``, ``GetMonitoringReport``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.core.audit import require_station, run_in_session
from api.csms import report_streams
from api.csms.monitoring import service
from api.rest import errors
from api.rest.auth import AnyRole, Ctx
from api.rest.instants import Instant, require_window
from api.rest.numbers import INT32_MAX
from storage.report_requests import MONITORING_REPORT

router = APIRouter(tags=["monitoring"])


class PlaceOut(BaseModel):
    component_name: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable_name: str
    variable_instance: str | None


class MonitorOut(PlaceOut):
    id: int = Field(description="Ours: grows as monitors are recorded; the paging key (`after_id`).")
    monitor_id: int | None = Field(description="The station's id; null until it assigned one.")
    type: str
    value: float
    severity: int
    transaction: bool
    source: str = Field(description="set: our SetVariableMonitoring; reported: the station's NotifyMonitoringReport.")
    status: str = Field(description="requested (no answer yet); the station's SetMonitoringResult status "
                                    "(Accepted, UnknownComponent, UnknownVariable, UnsupportedMonitorType, Rejected, "
                                    "Duplicate); cleared; without an answer: error, timeout, not_connected, refused.")
    status_reason: str | None
    requested_by: str | None
    updated_at: datetime


class ReportOut(BaseModel):
    request_id: int
    subject: dict[str, Any]
    status: str
    parts: int
    complete: bool
    gap: bool
    requested_by: str
    requested_at: datetime
    answered_at: datetime | None


class MonitoringOut(BaseModel):
    monitoring_base: str | None
    base_status: str | None
    monitoring_level: int | None
    level_status: str | None
    reports: list[ReportOut]


class EventOut(PlaceOut):
    id: int
    station_id: str
    event_id: int
    timestamp: datetime
    trigger: str
    cause: int | None
    actual_value: str
    tech_code: str | None
    tech_info: str | None
    cleared: bool | None
    transaction_id: str | None
    variable_monitoring_id: int | None
    event_notification_type: str
    severity: int | None = Field(description="The severity of the monitor that raised it, when known.")
    received_at: datetime


@router.get("/api/v1/stations/{station_id}/monitors", response_model=list[MonitorOut],
            responses=errors.responses(401, 403, 404, 503))
def monitors(station_id: str, _principal: AnyRole, ctx: Ctx,
             cleared: bool = Query(False, description="Include the monitors cleared since."),
             limit: int = Query(1000, ge=1, le=1000),
             after_id: int | None = Query(None, ge=1, le=INT32_MAX)) -> list[MonitorOut]:
    """The station's monitors as far as we know them, in the order recorded; page with
    ``after_id`` (the last `id` seen): with the cleared ones, a station's history outgrows a page.
    Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [MonitorOut.model_validate(row, from_attributes=True)
                for row in service.monitors(session, station_id, active=not cleared, limit=limit, after_id=after_id)]
    return run_in_session(ctx, read)


@router.get("/api/v1/stations/{station_id}/monitoring", response_model=MonitoringOut,
            responses=errors.responses(401, 403, 404, 503))
def monitoring(station_id: str, _principal: AnyRole, ctx: Ctx) -> MonitoringOut:
    """The monitoring base and level last set, with the station's answers, and the monitoring
    reports asked for (newest first). Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        setting = service.setting(session, station_id)
        reports = [ReportOut(**{**row.model_dump(), "subject": report_streams.subject(row)})
                   for row in report_streams.listed(session, station_id, MONITORING_REPORT)]
        return MonitoringOut(monitoring_base=setting and setting.monitoring_base,
                             base_status=setting and setting.base_status,
                             monitoring_level=setting and setting.monitoring_level,
                             level_status=setting and setting.level_status, reports=reports)
    return run_in_session(ctx, read)


def _events(ctx, station_id: str | None, where: service.EventFilter, limit: int, before_id: int | None
            ) -> list[EventOut]:
    def read(session):
        if station_id is not None:
            require_station(session, station_id)
        return [EventOut.model_validate(row, from_attributes=True)
                for row in service.events(session, station_id, where, limit=limit, before_id=before_id)]
    return run_in_session(ctx, read)


def _filter(severity: int | None, component: str | None, variable: str | None, trigger: str | None,
            since: datetime | None, until: datetime | None) -> service.EventFilter:
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise errors.ApiError(422, f"{name} needs a time zone", field=f"query.{name}")
    require_window(since, until)
    return service.EventFilter(severity, component, variable, trigger, since, until)


_SEVERITY = Query(None, ge=0, le=9, description="Only events of monitors this severe or more (0 Danger … 9 Debug).")
_COMPONENT = Query(None, max_length=50)
_VARIABLE = Query(None, max_length=50)
_TRIGGER = Query(None, pattern="^(Alerting|Delta|Periodic)$")
_SINCE = Query(None, description="Events timestamped at or after this time.")
_UNTIL = Query(None, description="Events timestamped before this time.")
_LIMIT = Query(100, ge=1, le=1000)
_BEFORE = Query(None, ge=1, le=INT32_MAX, description="Page: events older than this row id.")


@router.get("/api/v1/stations/{station_id}/events", response_model=list[EventOut],
            responses=errors.responses(401, 403, 404, 422, 503))
def station_events(station_id: str, _principal: AnyRole, ctx: Ctx, severity: int | None = _SEVERITY,
                   component: str | None = _COMPONENT, variable: str | None = _VARIABLE,
                   trigger: str | None = _TRIGGER, since: Instant | None = _SINCE, until: Instant | None = _UNTIL,
                   limit: int = _LIMIT, before_id: int | None = _BEFORE) -> list[EventOut]:
    """The station's events (NotifyEvent), newest first. Roles: officer, operator, auditor."""
    return _events(ctx, station_id, _filter(severity, component, variable, trigger, since, until), limit, before_id)


@router.get("/api/v1/events", response_model=list[EventOut], responses=errors.responses(401, 403, 422, 503))
def events(_principal: AnyRole, ctx: Ctx, station_id: str | None = Query(None, max_length=48),
           severity: int | None = _SEVERITY, component: str | None = _COMPONENT, variable: str | None = _VARIABLE,
           trigger: str | None = _TRIGGER, since: Instant | None = _SINCE, until: Instant | None = _UNTIL,
           limit: int = _LIMIT, before_id: int | None = _BEFORE) -> list[EventOut]:
    """Every station's events (NotifyEvent), newest first, filtered. Roles: officer, operator, auditor."""
    return _events(ctx, station_id, _filter(severity, component, variable, trigger, since, until), limit, before_id)
