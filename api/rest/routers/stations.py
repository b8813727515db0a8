"""Charging stations: registration and the registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import select

from api import operations
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, StationOps
from api.rest.errors import ApiError
from api.rest.numbers import Offset
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
    created = operations.add_station(ctx, principal.actor, body.id, security_profile=body.security_profile,
                                     password=body.password)
    return StationCreated(**StationOut.of(created.station).model_dump(), password=created.password)


@router.get("", response_model=list[StationOut], responses=errors.responses(401, 403, 503))
def list_stations(_principal: AnyRole, ctx: Ctx,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                  offset: Offset = 0) -> list[StationOut]:
    """Registered stations, ordered by identity. Roles: officer, operator, auditor."""
    query = select(Station).order_by(Station.id).offset(offset).limit(limit)
    return operations.run_in_session(ctx, lambda s: [StationOut.of(st) for st in s.exec(query)])


@router.get("/{station_id}", response_model=StationOut, responses=errors.responses(401, 403, 404, 503))
def get_station(station_id: str, _principal: AnyRole, ctx: Ctx) -> StationOut:
    """One station. Roles: officer, operator, auditor."""
    station = operations.run_in_session(ctx, lambda s: s.get(Station, station_id))
    if station is None:
        raise ApiError(404, f"station {station_id!r} is not registered")
    return StationOut.of(station)
