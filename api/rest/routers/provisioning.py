"""Block B over REST: the device model a station reported (browse and filter), the report
requests with their completeness, Resets and SetNetworkProfile requests with their answers, and
where a station is in its onboarding. Sending is the typed commands
``POST /api/v1/stations/{id}/commands/{GetBaseReport|GetReport|GetVariables|SetVariables|Reset|SetNetworkProfile}``."""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.core.audit import require_station, run_in_session
from api.csms.provisioning import device_model, service
from api.rest import errors
from api.rest.auth import AnyRole, Ctx
from api.rest.errors import ApiError
from api.rest.numbers import INT32_MAX
from storage.device_model import NO_EVSE, StationOnboarding

router = APIRouter(tags=["provisioning"])


class AttributeOut(BaseModel):
    type: str
    value: str | None
    mutability: str | None
    persistent: bool | None
    constant: bool | None
    source: str
    updated_at: datetime


class VariableOut(BaseModel):
    id: int
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    unit: str | None
    data_type: str | None
    min_limit: float | None
    max_limit: float | None
    values_list: str | None
    supports_monitoring: bool | None
    attributes: list[AttributeOut]
    updated_at: datetime


class ReportOut(BaseModel):
    request_id: int
    kind: str
    report_base: str | None
    criteria: dict | None
    answer: str | None
    status: str
    parts: int
    entries: int
    last_seq_no: int | None
    out_of_order: bool
    missing: str | None
    error: str | None
    requested_by: str
    requested_at: datetime
    updated_at: datetime


class ResetOut(BaseModel):
    id: int
    type: str
    evse_id: int | None
    status: str
    answer: str | None
    boot_reason: str | None
    requested_by: str
    requested_at: datetime
    answered_at: datetime | None
    rebooted_at: datetime | None


class NetworkProfileOut(BaseModel):
    id: int
    configuration_slot: int
    security_profile: int
    ocpp_csms_url: str
    ocpp_interface: str
    status: str
    requested_by: str
    requested_at: datetime
    answered_at: datetime | None


class OnboardingOut(BaseModel):
    station_id: str
    state: str
    report_request_id: int | None
    detail: dict | None
    started_at: datetime
    updated_at: datetime


def _optional(value: int) -> int | None:
    return None if value == NO_EVSE else value


@router.get("/api/v1/stations/{station_id}/device-model", response_model=list[VariableOut],
            responses=errors.responses(401, 403, 404, 503))
def browse_device_model(station_id: str, _principal: AnyRole, ctx: Ctx,
                        component: str | None = Query(None, max_length=50),
                        variable: str | None = Query(None, max_length=50),
                        attribute_type: str | None = Query(None, pattern="^(Actual|Target|MinSet|MaxSet)$"),
                        evse_id: int | None = Query(None, ge=0, le=INT32_MAX),
                        limit: int = Query(100, ge=1, le=1000),
                        after_id: int | None = Query(None, ge=1, le=INT32_MAX)) -> list[VariableOut]:
    """The station's variables as it reported them (NotifyReport) and as GetVariables/SetVariables
    answers updated them, filtered by component, variable, attribute type (the variables that
    have one) and EVSE; in id order, page with ``after_id`` (the last id seen). Roles: officer,
    operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [VariableOut(
            id=row.id, component=row.component, component_instance=row.component_instance or None,
            evse_id=_optional(row.evse_id), connector_id=_optional(row.connector_id), variable=row.variable,
            variable_instance=row.variable_instance or None, unit=row.unit, data_type=row.data_type,
            min_limit=row.min_limit, max_limit=row.max_limit, values_list=row.values_list,
            supports_monitoring=row.supports_monitoring, updated_at=row.updated_at,
            attributes=[AttributeOut.model_validate(a, from_attributes=True) for a in attributes])
            for row, attributes in device_model.browse(session, station_id, component=component, variable=variable,
                                                       attribute_type=attribute_type, evse_id=evse_id, limit=limit,
                                                       after_id=after_id)]
    return run_in_session(ctx, read)


@router.get("/api/v1/stations/{station_id}/device-reports", response_model=list[ReportOut],
            responses=errors.responses(401, 403, 404, 503))
def device_reports(station_id: str, _principal: AnyRole, ctx: Ctx,
                   limit: int = Query(50, ge=1, le=200)) -> list[ReportOut]:
    """The report requests (GetBaseReport, GetReport) newest first, with the parts received:
    ``status`` requested, streaming, complete, incomplete (``missing`` names the seqNos never
    received), truncated (the station reported more variables than the policy keeps, ``error``
    names the rule), refused (not Accepted). Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [ReportOut(**{**row.model_dump(exclude={"id", "station_id", "criteria"}),
                             "criteria": json.loads(row.criteria) if row.criteria else None})
                for row in device_model.reports(session, station_id, limit)]
    return run_in_session(ctx, read)


@router.get("/api/v1/stations/{station_id}/resets", response_model=list[ResetOut],
            responses=errors.responses(401, 403, 404, 503))
def resets(station_id: str, _principal: AnyRole, ctx: Ctx) -> list[ResetOut]:
    """Resets sent, newest first: the answer (Accepted, Rejected, Scheduled), then ``rebooted``
    once the station's next BootNotification came (``boot_reason``). Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [ResetOut.model_validate(row, from_attributes=True) for row in service.resets(session, station_id)]
    return run_in_session(ctx, read)


@router.get("/api/v1/stations/{station_id}/network-profiles", response_model=list[NetworkProfileOut],
            responses=errors.responses(401, 403, 404, 503))
def network_profiles(station_id: str, _principal: AnyRole, ctx: Ctx) -> list[NetworkProfileOut]:
    """SetNetworkProfile requests, newest first, with the station's answer (Accepted, Rejected,
    Failed). Credentials of the connection data are not kept. Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [NetworkProfileOut.model_validate(row, from_attributes=True)
                for row in service.network_profiles(session, station_id)]
    return run_in_session(ctx, read)


@router.get("/api/v1/stations/{station_id}/onboarding", response_model=OnboardingOut,
            responses=errors.responses(401, 403, 404, 503))
def onboarding(station_id: str, _principal: AnyRole, ctx: Ctx) -> OnboardingOut:
    """Where the station is in its onboarding ([onboarding] policy): pending, reporting,
    configuring, done or failed, and per baseline variable what was set. 404 when it has none.
    Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return session.get(StationOnboarding, station_id)
    row = run_in_session(ctx, read)
    if row is None:
        raise ApiError(404, f"station {station_id!r} has not been onboarded")
    return OnboardingOut(station_id=row.station_id, state=row.state, report_request_id=row.report_request_id,
                         detail=json.loads(row.detail) if row.detail else None, started_at=row.started_at,
                         updated_at=row.updated_at)
