"""Block I over REST: the tariff of a station and the default tariff (officers set them,
everyone reads them; every change audited)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.core.audit import audited, require_station, run_in_session
from api.csms.tariff_cost import service
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, OfficerOnly
from api.rest.request_body import RequestBody
from storage.tariffs import DEFAULT_SCOPE, Tariff

router = APIRouter(tags=["tariffs"])

_PRICE = {"pattern": r"^\d{1,6}(\.\d{1,6})?$", "max_length": 13}


class TariffIn(RequestBody):
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. EUR.")
    price_per_kwh: str = Field("0", description="Decimal, as text (no float on the way).", **_PRICE)
    price_per_minute: str = Field("0", **_PRICE)
    flat_fee: str = Field("0", description="Per transaction.", **_PRICE)


class TariffOut(BaseModel):
    station_id: str | None = Field(description="null: the default tariff, for stations without their own.")
    currency: str
    price_per_kwh: str
    price_per_minute: str
    flat_fee: str
    updated_by: str
    updated_at: datetime

    @classmethod
    def of(cls, row: Tariff) -> "TariffOut":
        return cls(station_id=row.scope or None, currency=row.currency, price_per_kwh=row.price_per_kwh,
                   price_per_minute=row.price_per_minute, flat_fee=row.flat_fee, updated_by=row.updated_by,
                   updated_at=row.updated_at)


def _put(ctx, principal, scope: str, body: TariffIn, response: Response) -> TariffOut:
    with audited(ctx, principal.actor, "tariff.set", scope or "default") as (session, detail):
        if scope:
            require_station(session, scope)
        row, created = service.put(session, scope, currency_code=body.currency, per_kwh=body.price_per_kwh,
                                   per_minute=body.price_per_minute, flat_fee=body.flat_fee,
                                   actor_name=principal.actor.name)
        detail.update(currency=row.currency, price_per_kwh=row.price_per_kwh,
                      price_per_minute=row.price_per_minute, flat_fee=row.flat_fee, created=created)
        response.status_code = 201 if created else 200
        return TariffOut.of(row)


def _delete(ctx, principal, scope: str) -> None:
    with audited(ctx, principal.actor, "tariff.delete", scope or "default") as (session, _detail):
        service.delete(session, scope)


def _get(ctx, scope: str) -> TariffOut:
    def read(session):
        if scope:
            require_station(session, scope)
        return TariffOut.of(service.get(session, scope))
    return run_in_session(ctx, read)


@router.get("/api/v1/tariffs", response_model=list[TariffOut], responses=errors.responses(401, 403, 503))
def list_tariffs(_principal: AnyRole, ctx: Ctx) -> list[TariffOut]:
    """Every tariff: the default one first, then the stations' own. Roles: officer, operator, auditor."""
    return run_in_session(ctx, lambda session: [TariffOut.of(row) for row in service.listed(session)])


@router.put("/api/v1/tariffs/default", response_model=TariffOut, responses=errors.responses(401, 403, 422, 503))
def put_default(body: TariffIn, principal: OfficerOnly, ctx: Ctx, response: Response) -> TariffOut:
    """Set the default tariff (201 when new). Role: officer; audited."""
    return _put(ctx, principal, DEFAULT_SCOPE, body, response)


@router.get("/api/v1/tariffs/default", response_model=TariffOut, responses=errors.responses(401, 403, 404, 503))
def get_default(_principal: AnyRole, ctx: Ctx) -> TariffOut:
    """The default tariff. Roles: officer, operator, auditor."""
    return _get(ctx, DEFAULT_SCOPE)


@router.delete("/api/v1/tariffs/default", status_code=204, responses=errors.responses(401, 403, 404, 503))
def delete_default(principal: OfficerOnly, ctx: Ctx) -> None:
    """Remove the default tariff: stations without their own then charge nothing shown.
    Role: officer; audited."""
    _delete(ctx, principal, DEFAULT_SCOPE)


@router.put("/api/v1/stations/{station_id}/tariff", response_model=TariffOut,
            responses=errors.responses(401, 403, 404, 422, 503))
def put_station_tariff(station_id: str, body: TariffIn, principal: OfficerOnly, ctx: Ctx,
                       response: Response) -> TariffOut:
    """Set the station's own tariff (201 when new). Role: officer; audited."""
    return _put(ctx, principal, station_id, body, response)


@router.get("/api/v1/stations/{station_id}/tariff", response_model=TariffOut,
            responses=errors.responses(401, 403, 404, 503))
def get_station_tariff(station_id: str, _principal: AnyRole, ctx: Ctx) -> TariffOut:
    """The station's own tariff (404 when it uses the default). Roles: officer, operator, auditor."""
    return _get(ctx, station_id)


@router.delete("/api/v1/stations/{station_id}/tariff", status_code=204,
               responses=errors.responses(401, 403, 404, 503))
def delete_station_tariff(station_id: str, principal: OfficerOnly, ctx: Ctx) -> None:
    """Remove the station's own tariff; the default applies again. Role: officer; audited."""
    _delete(ctx, principal, station_id)
