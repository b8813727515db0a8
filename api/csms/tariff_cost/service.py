"""Tariffs and what a transaction costs under them (I01-I03).

A tariff is three prices in one currency: per kWh, per minute, and a flat fee per transaction.
A station's own tariff applies, else the default one, else none (then no cost is shown or sent).

Money is Decimal end to end. The cost is computed exactly from the exact energy (Wh → kWh) and
time (s → min) and rounded once, at the end, half-up to the currency's minor unit (the cent;
the yen for JPY, ``minor_unit``): the rounding a
driver expects from a receipt, and never a sum of rounded parts drifting from the whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import iso4217
from sqlalchemy import bindparam
from sqlmodel import Session, select

from api.core.refusal import NotFound, Refusal
from storage.tariffs import DEFAULT_SCOPE, Tariff
from storage.types import utcnow

PRICE_MAX = Decimal("100000")
_WH_PER_KWH, _S_PER_MIN = Decimal(1000), Decimal(60)


@dataclass(frozen=True)
class Prices:
    currency: str
    per_kwh: Decimal
    per_minute: Decimal
    flat_fee: Decimal

    @classmethod
    def of(cls, row: Tariff) -> "Prices":
        return cls(row.currency, Decimal(row.price_per_kwh), Decimal(row.price_per_minute), Decimal(row.flat_fee))

    def cost(self, energy_wh: float, seconds: float) -> Decimal | None:
        """Rounded once, half-up, to the currency's minor unit (EUR cents, JPY yen, BHD fils).
        None when no cost can be told: an energy that is no finite number, or a cost past the
        28 digits it is computed in (10^30 Wh a station reported; quantize raised, and the
        station got an InternalError for an event that was kept, or instead of keeping it)."""
        if not (math.isfinite(energy_wh) and math.isfinite(seconds)):
            return None
        energy = Decimal(str(max(energy_wh, 0))) / _WH_PER_KWH
        minutes = Decimal(str(max(seconds, 0))) / _S_PER_MIN
        exact = self.flat_fee + energy * self.per_kwh + minutes * self.per_minute
        try:
            return exact.quantize(minor_unit(self.currency), rounding=ROUND_HALF_UP)
        except InvalidOperation:
            return None

    def text(self) -> str:
        """The tariff as a driver reads it (I01), within personalMessage's 512 characters."""
        parts = [f"{self.per_kwh} {self.currency}/kWh"]
        if self.per_minute:
            parts.append(f"{self.per_minute} {self.currency}/min")
        if self.flat_fee:
            parts.append(f"{self.flat_fee} {self.currency} per session")
        return "Tariff: " + " + ".join(parts)


# One statement for both scopes: this is asked for every running transaction once a minute.
_BOTH_SCOPES = select(Tariff).where(Tariff.scope.in_(bindparam("scopes")))  # type: ignore[attr-defined]


def tariff_for(session: Session, station_id: str) -> Prices | None:
    """The tariff that applies at ``station_id``: its own, else the default, else None."""
    found = {row.scope: row for row in session.exec(_BOTH_SCOPES, params={"scopes": [station_id, DEFAULT_SCOPE]})}
    row = found.get(station_id) or found.get(DEFAULT_SCOPE)
    return Prices.of(row) if row is not None else None


def cost_of(session: Session, station_id: str, *, energy_wh: float, seconds: float) -> Decimal | None:
    """What ``energy_wh`` over ``seconds`` of charging costs at ``station_id``; None: no tariff
    applies, or no cost can be told (``Prices.cost``)."""
    prices = tariff_for(session, station_id)
    return None if prices is None else prices.cost(energy_wh, seconds)


# --- the officer's CRUD ----------------------------------------------------------------------------

def price(value: str, field: str) -> Decimal:
    """A price as given (text, so no float ever touches it): 0 to PRICE_MAX, at most 6 decimals."""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError):
        raise Refusal("tariff.price", f"{field} {value!r} is not a decimal number", details={"field": field}) from None
    if not amount.is_finite() or amount < 0 or amount > PRICE_MAX or amount.as_tuple().exponent < -6:
        raise Refusal("tariff.price", f"{field} must lie between 0 and {PRICE_MAX} with at most 6 decimals",
                      details={"field": field})
    return amount


def currency(code: str) -> str:
    """An ISO 4217 currency that has a minor unit (not XAU, XXX…: a price cannot be rounded in them)."""
    try:
        exponent = iso4217.Currency(code).exponent
    except ValueError:
        exponent = None
    if exponent is None:
        raise Refusal("tariff.currency", f"currency {code!r} is not an ISO 4217 currency of money (e.g. EUR, "
                      "USD, JPY)", details={"field": "currency"})
    return code


def minor_unit(code: str) -> Decimal:
    """0.01 for EUR, 1 for JPY, 0.001 for BHD: what a cost in ``code`` is rounded to."""
    return Decimal(1).scaleb(-(iso4217.Currency(code).exponent or 0))


def put(session: Session, scope: str, *, currency_code: str, per_kwh: str, per_minute: str, flat_fee: str,
        actor_name: str) -> tuple[Tariff, bool]:
    """Set the tariff of ``scope`` (a station id, or DEFAULT_SCOPE); True when it is new."""
    row = session.get(Tariff, scope)
    created = row is None
    row = row or Tariff(scope=scope, currency="", price_per_kwh="0", price_per_minute="0", flat_fee="0",
                        updated_by="")
    row.currency = currency(currency_code)
    row.price_per_kwh = str(price(per_kwh, "price_per_kwh"))
    row.price_per_minute = str(price(per_minute, "price_per_minute"))
    row.flat_fee = str(price(flat_fee, "flat_fee"))
    row.updated_by, row.updated_at = actor_name[:100], utcnow()
    session.add(row)
    session.flush()
    return row, created


def get(session: Session, scope: str) -> Tariff:
    row = session.get(Tariff, scope)
    if row is None:
        raise NotFound("tariff.unknown", "no tariff is set here" if scope else "no default tariff is set")
    return row


def delete(session: Session, scope: str) -> None:
    session.delete(get(session, scope))


def listed(session: Session) -> list[Tariff]:
    return list(session.exec(select(Tariff).order_by(Tariff.scope)))
