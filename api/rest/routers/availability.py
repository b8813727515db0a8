"""Block G over REST: the EVSE and connector states stations reported (current and history),
and the ChangeAvailability requests sent with their answers. Sending one is the typed command
``POST /api/v1/stations/{id}/commands/ChangeAvailability``."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.core.audit import require_station, run_in_session
from api.csms.availability import service
from api.rest import errors
from api.rest.auth import AnyRole, Ctx
from api.rest.numbers import INT32_MAX

router = APIRouter(tags=["availability"])


class ConnectorStateOut(BaseModel):
    evse_id: int
    connector_id: int  # 0: the EVSE itself
    status: str | None
    problem: str | None
    problem_since: datetime | None
    reported_at: datetime


class ConnectorEventOut(BaseModel):
    id: int
    evse_id: int
    connector_id: int
    kind: str
    value: str
    source: str
    reported_at: datetime
    received_at: datetime


class AvailabilityChangeOut(BaseModel):
    id: int
    evse_id: int | None
    connector_id: int | None
    operational_status: str
    answer: str | None
    requested_by: str
    requested_at: datetime
    answered_at: datetime | None


@router.get("/api/v1/stations/{station_id}/connectors", response_model=list[ConnectorStateOut],
            responses=errors.responses(401, 403, 404, 503))
def connectors(station_id: str, _principal: AnyRole, ctx: Ctx) -> list[ConnectorStateOut]:
    """The current state of each EVSE and connector as the station last reported it
    (StatusNotification, NotifyEvent AvailabilityState), with any problem it reported and has
    not cleared (e.g. ConnectorPlugRetentionLock, G05). Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [ConnectorStateOut.model_validate(row, from_attributes=True) for row in service.current(session,
                                                                                                     station_id)]
    return run_in_session(ctx, read)


@router.get("/api/v1/stations/{station_id}/connectors/history", response_model=list[ConnectorEventOut],
            responses=errors.responses(401, 403, 404, 503))
def connector_history(station_id: str, _principal: AnyRole, ctx: Ctx, evse_id: int | None = Query(None, ge=0,
                      le=INT32_MAX), limit: int = Query(100, ge=1, le=1000),
                      before_id: int | None = Query(None, ge=1, le=INT32_MAX)) -> list[ConnectorEventOut]:
    """Every status and problem report, newest first (page with ``before_id``). The last 2000
    reports of each station are kept. Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [ConnectorEventOut.model_validate(row, from_attributes=True) for row in service.history(
            session, station_id, evse_id=evse_id, limit=limit, before_id=before_id)]
    return run_in_session(ctx, read)


@router.get("/api/v1/stations/{station_id}/availability-changes", response_model=list[AvailabilityChangeOut],
            responses=errors.responses(401, 403, 404, 503))
def availability_changes(station_id: str, _principal: AnyRole, ctx: Ctx,
                         limit: int = Query(50, ge=1, le=1000)) -> list[AvailabilityChangeOut]:
    """The ChangeAvailability requests sent to the station, newest first, with its answer
    (Accepted, Rejected, Scheduled; null while none came). Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [AvailabilityChangeOut.model_validate(row, from_attributes=True)
                for row in service.changes(session, station_id, limit)]
    return run_in_session(ctx, read)
