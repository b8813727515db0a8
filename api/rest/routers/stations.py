"""Charging stations: registration, the registry, and upkeep (kill switch, password, profile)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlmodel import select

from api.core.audit import run_in_session
from api.operations import stations as station_operations
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, OfficerOnly, StationOps
from api.rest.errors import ApiError
from api.rest.numbers import Offset
from api.rest.request_body import RequestBody
from api.rest.schemas import StationCreate, StationCreated, StationOut
from storage.stations import Station

router = APIRouter(prefix="/api/v1/stations", tags=["stations"])


@router.post("", status_code=201, response_model=StationCreated,
             responses=errors.responses(401, 403, 409, 413, 415, 422, 503))
def register_station(body: StationCreate, principal: StationOps, ctx: Ctx) -> StationCreated:
    """Register a charging station. Roles: officer, operator.

    For security profiles 1 and 2 without a `password`, one is generated and returned in
    `password` - this is the only time it is shown; only its argon2id hash is stored.
    A given password is never echoed. 409 (`rule` station.exists) if the identity is taken.
    """
    created = station_operations.add_station(ctx, principal.actor, body.id, security_profile=body.security_profile,
                                     password=body.password)
    return StationCreated(**StationOut.of(created.station).model_dump(), password=created.password)


@router.get("", response_model=list[StationOut], responses=errors.responses(401, 403, 503))
def list_stations(_principal: AnyRole, ctx: Ctx,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                  offset: Offset = 0) -> list[StationOut]:
    """Registered stations, ordered by identity. Roles: officer, operator, auditor."""
    query = select(Station).order_by(Station.id).offset(offset).limit(limit)
    return run_in_session(ctx, lambda s: [StationOut.of(st) for st in s.exec(query)])


@router.get("/{station_id}", response_model=StationOut, responses=errors.responses(401, 403, 404, 503))
def get_station(station_id: str, _principal: AnyRole, ctx: Ctx) -> StationOut:
    """One station. Roles: officer, operator, auditor."""
    station = run_in_session(ctx, lambda s: s.get(Station, station_id))
    if station is None:
        raise ApiError(404, f"station {station_id!r} is not registered")
    return StationOut.of(station)


# --- upkeep: the kill switch, credentials, profile --------------------------------------------

class DisableIn(RequestBody):
    reason: str | None = Field(None, max_length=500, description="Kept in the audit log.")


class PasswordIn(RequestBody):
    password: str = Field(description="The station's Basic-auth password, e.g. the one provisioned at the "
                                      "factory: 16-64 characters of OCPP's passwordString set. Never echoed, logged "
                                      "or audited.")


class SecurityProfileIn(RequestBody):
    security_profile: int = Field(ge=1, le=3)
    reason: str | None = Field(None, max_length=500, description="Required to lower the profile (officer).")


class StationDeleted(BaseModel):
    id: str
    revoked: list[str] = Field(description="Serials of the station's certificates revoked (cessationOfOperation).")


_UPKEEP_ERRORS = errors.responses(401, 403, 404, 415, 422, 503)


@router.post("/{station_id}/disable", response_model=StationOut, responses=_UPKEEP_ERRORS)
def disable_station(station_id: str, principal: StationOps, ctx: Ctx, body: DisableIn | None = None) -> StationOut:
    """The kill switch: the station is refused at connect (403) from now on and its live
    connections close at once (WebSocket 1008). Roles: officer, operator."""
    return StationOut.of(station_operations.disable_station(ctx, principal.actor, station_id, (body or DisableIn()).reason))


@router.post("/{station_id}/enable", response_model=StationOut, responses=_UPKEEP_ERRORS)
def enable_station(station_id: str, principal: OfficerOnly, ctx: Ctx) -> StationOut:
    """Let a disabled station connect again. Role: officer (a station may have been disabled
    for a security reason)."""
    return StationOut.of(station_operations.enable_station(ctx, principal.actor, station_id))


@router.delete("/{station_id}", response_model=StationDeleted, responses=_UPKEEP_ERRORS)
def delete_station(station_id: str, principal: OfficerOnly, ctx: Ctx,
                   reason: Annotated[str | None, Query(max_length=500)] = None) -> StationDeleted:
    """Delete a station: its valid certificates are revoked (cessationOfOperation), its
    inventory and queued calls removed, its live connections closed; the audit log keeps its
    history. Role: officer."""
    return StationDeleted(id=station_id, revoked=station_operations.delete_station(ctx, principal.actor, station_id, reason))


@router.put("/{station_id}/password", response_model=StationOut, responses=_UPKEEP_ERRORS)
def set_password(station_id: str, body: PasswordIn, principal: StationOps, ctx: Ctx) -> StationOut:
    """Set the station's Basic-auth password to a given one (factory provisioning); 422 with
    rule station.password when the policy refuses it. An unresolved A01 rotation is dropped.
    Over OCPP, rotate it with password-rotation instead. Roles: officer, operator."""
    return StationOut.of(station_operations.set_station_password(ctx, principal.actor, station_id, body.password))


@router.put("/{station_id}/security-profile", response_model=StationOut, responses=_UPKEEP_ERRORS)
def set_security_profile(station_id: str, body: SecurityProfileIn, principal: StationOps, ctx: Ctx) -> StationOut:
    """The profile the station must connect with from now on; its connections on another profile
    close. Raising: officer or operator (station.profile.no_password when profile 1/2 lacks a
    password). Lowering: officer only (403, rule station.profile.lower) and with a `reason`
    (422, station.profile.reason), audited. Over OCPP, security-profile-upgrade moves the
    station itself (A05)."""
    return StationOut.of(station_operations.set_security_profile(ctx, principal.actor, station_id, body.security_profile,
                                                         body.reason))
