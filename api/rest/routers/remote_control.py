"""Block F over REST: remote starts with an id we draw, and what became of each.

``POST /api/v1/stations/{id}/remote-starts`` sends RequestStartTransaction with a remoteStartId
of ours (api/csms/remote_control/service.py) through the operator's one path (rules, audit,
record); the other F commands are the typed commands (``…/commands/RequestStopTransaction``,
``UnlockConnector``, ``TriggerMessage``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from ocpp.v201.datatypes import ChargingProfileType, IdTokenType
from pydantic import BaseModel, Field

from api.core.audit import require_station, run_in_session
from api.csms.ids import ID_MAX
from api.csms.remote_control import commands, service
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, StationOps
from api.rest.request_body import RequestBody
from api.rest.routers.drawn_ids import send_with_drawn_id
from api.rest.routers.station_ops import GatewayDep, JobsDep

router = APIRouter(tags=["remote control"])


class RemoteStartIn(RequestBody):
    id_token: IdTokenType
    evse_id: int | None = Field(None, ge=1, le=ID_MAX)
    group_id_token: IdTokenType | None = None
    charging_profile: ChargingProfileType | None = Field(None, description="TxProfile only, without transactionId.")


class RemoteStartOut(BaseModel):
    remote_start_id: int
    id_token: str
    id_token_type: str
    evse_id: int | None
    with_charging_profile: bool
    status: str = Field(description="requested (no answer yet), Accepted, Rejected, started (its transaction "
                                    "began: `transaction_id`); without an answer: error (CALLERROR), timeout "
                                    "(it may still have reached the station), not_connected, refused.")
    status_reason: str | None
    transaction_id: str | None
    requested_by: str
    requested_at: datetime
    updated_at: datetime


@router.post("/api/v1/stations/{station_id}/remote-starts",
             responses={409: {"model": errors.ErrorBody, "description": "station not connected."},
                        504: {"model": errors.ErrorBody, "description": "no answer in time."},
                        **errors.responses(401, 403, 404, 422, 503)})
async def remote_start(station_id: str, body: RemoteStartIn, principal: StationOps, gateway: GatewayDep,
                       jobs: JobsDep) -> Any:
    """RequestStartTransaction (F01/F02) with a remoteStartId ChargeCA draws; the station's
    answer as the typed command gives it, plus `remote_start_id`. Follow it with
    `GET …/remote-starts`. Roles: officer, operator."""
    def make(remote_start_id: int) -> commands.RequestStartTransaction:
        return commands.RequestStartTransaction(id_token=body.id_token, remote_start_id=remote_start_id,
                                                evse_id=body.evse_id, group_id_token=body.group_id_token,
                                                charging_profile=body.charging_profile)
    return await send_with_drawn_id(gateway, jobs, principal.actor, station_id, make, "remote_start.id_taken",
                                    "remote_start_id")


@router.get("/api/v1/stations/{station_id}/remote-starts", response_model=list[RemoteStartOut],
            responses=errors.responses(401, 403, 404, 503))
async def remote_starts(station_id: str, _principal: AnyRole, ctx: Ctx) -> list[RemoteStartOut]:
    """The remote starts sent to the station, newest first, and what became of each. Roles:
    officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [RemoteStartOut.model_validate(row, from_attributes=True) for row in service.listed(session,
                                                                                                 station_id)]
    return await asyncio.to_thread(run_in_session, ctx, read)
