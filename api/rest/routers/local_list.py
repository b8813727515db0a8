"""Stations' local authorization lists (D01, D02): send the list built from the token store,
see what a station was last sent, ask its version.

Sending is decided on the station's live connection and waits for its answers, so these routes
are ``async`` and reach the station through the gateway in this process (station_ops.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.csms.local_list import updates
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, StationOps
from api.rest.request_body import RequestBody
from api.rest.routers.station_ops import GatewayDep

router = APIRouter(prefix="/api/v1/stations/{station_id}/local-list", tags=["local list"])


class LocalListIn(RequestBody):
    mode: Literal["full", "differential"] = Field("differential", description="full: the whole list replaces "
                                                  "the station's; differential: only what changed since its list "
                                                  "was last accepted (VersionMismatch falls back to full).")
    dry_run: bool = Field(False, description="Only show the messages that would be sent; nothing is sent or kept.")
    timeout: float | None = Field(None, gt=0, le=300, description="Seconds to wait for each answer.")


class LocalListOut(BaseModel):
    station_id: str
    version: int = Field(description="The version the last accepted SendLocalList set (0: none yet).")
    reported_version: int | None = Field(description="GetLocalListVersion's last answer.")
    reported_at: datetime | None
    items_per_message: int | None
    bytes_per_message: int | None
    last_update_type: str | None
    last_outcome: str | None
    last_sent_at: datetime | None
    entries: list[dict[str, Any]] = Field(description="The list the station accepted, as AuthorizationData.")


class VersionOut(BaseModel):
    station_id: str
    reported_version: int | None = Field(description="null: the station did not answer.")


_ERRORS = errors.responses(401, 403, 404, 409, 422, 503)


@router.get("", response_model=LocalListOut, responses=errors.responses(401, 403, 404, 503))
def get_local_list(station_id: str, _principal: AnyRole, ctx: Ctx) -> dict[str, Any]:
    """The station's list as last accepted, its versions and limits. Roles: officer, operator, auditor."""
    return updates.local_list_view(ctx, station_id)


@router.post("", responses=_ERRORS)
async def send_local_list(station_id: str, principal: StationOps, ctx: Ctx, gateway: GatewayDep,
                          body: LocalListIn | None = None) -> dict[str, Any]:
    """Send the list built from the token store (tokens whose `local_list` selector matches the
    station), cut into SendLocalList messages within the station's ItemsPerMessage and
    BytesPerMessage (read with GetVariables before each update, or a fallback of 20 entries / 4096 bytes).
    `outcome` is the last answer (Accepted, Failed, VersionMismatch) or how the call ended; each
    message is listed with its payload and status. 409 when the station is not connected (not for a
    dry run). Audited. Roles: officer, operator."""
    body = body or LocalListIn()
    mode = "Full" if body.mode == "full" else "Differential"
    result = await updates.send_local_list(ctx, gateway, principal.actor, station_id, mode, dry_run=body.dry_run,
                                           timeout=body.timeout)
    return result.as_json()


@router.post("/version", response_model=VersionOut, responses=_ERRORS)
async def ask_local_list_version(station_id: str, principal: StationOps, ctx: Ctx,
                                 gateway: GatewayDep) -> VersionOut:
    """GetLocalListVersion (D02): the answer is stored (0: the station has no list). Audited.
    Roles: officer, operator."""
    version = await updates.ask_version(ctx, gateway, principal.actor, station_id)
    return VersionOut(station_id=station_id, reported_version=version)


