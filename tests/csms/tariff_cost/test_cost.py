"""Block I's cost: Decimal prices, exact sums, one half-up rounding to the cent; a station's own
tariff before the default one; the prices a tariff accepts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api.core.audit import run_in_session
from api.core.refusal import NotFound, Refusal
from api.csms.tariff_cost import service
from storage.tariffs import DEFAULT_SCOPE

pytestmark = pytest.mark.fast


def _put(ctx, scope, **prices):
    values = {"currency_code": "EUR", "per_kwh": "0", "per_minute": "0", "flat_fee": "0", **prices}
    return run_in_session(ctx, lambda s: service.put(s, scope, actor_name="test", **values))


def _cost(ctx, station_id, energy_wh, seconds):
    return run_in_session(ctx, lambda s: service.cost_of(s, station_id, energy_wh=energy_wh, seconds=seconds))


def test_no_tariff_no_cost(ctx):
    assert _cost(ctx, "CS-1", 10_000, 3600) is None


def test_the_cost_is_exact_then_rounded_half_up_to_the_cent(ctx):
    _put(ctx, DEFAULT_SCOPE, per_kwh="0.295", per_minute="0.01", flat_fee="0.50")
    # 12.345 kWh × 0.295 = 3.641775; 90 s = 1.5 min × 0.01 = 0.015; + 0.50 → 4.156775 → 4.16
    assert _cost(ctx, "CS-1", 12_345, 90) == Decimal("4.16")
    # 0.005 exactly: half-up gives the cent (banker's rounding would give 0.00)
    _put(ctx, DEFAULT_SCOPE, per_kwh="0.005")
    assert _cost(ctx, "CS-1", 1000, 0) == Decimal("0.01")
    # 0.1 + 0.2 in floats is 0.30000000000000004; in Decimal it is 0.30
    _put(ctx, DEFAULT_SCOPE, per_kwh="0.1", flat_fee="0.2")
    assert _cost(ctx, "CS-1", 1000, 0) == Decimal("0.30")


def test_a_free_tariff_costs_zero_not_nothing(ctx):
    _put(ctx, DEFAULT_SCOPE)
    assert _cost(ctx, "CS-1", 5000, 600) == Decimal("0.00")


def test_a_station_tariff_wins_over_the_default(ctx):
    _put(ctx, DEFAULT_SCOPE, per_kwh="1")
    _put(ctx, "CS-2", per_kwh="2")
    assert _cost(ctx, "CS-1", 1000, 0) == Decimal("1.00")
    assert _cost(ctx, "CS-2", 1000, 0) == Decimal("2.00")
    run_in_session(ctx, lambda s: service.delete(s, "CS-2"))
    assert _cost(ctx, "CS-2", 1000, 0) == Decimal("1.00")


def test_negative_readings_cost_nothing_extra(ctx):
    _put(ctx, DEFAULT_SCOPE, per_kwh="1", flat_fee="2")
    assert _cost(ctx, "CS-1", -500, -10) == Decimal("2.00")


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("per_kwh", "-1", "tariff.price"), ("per_kwh", "abc", "tariff.price"), ("per_kwh", "NaN", "tariff.price"),
    ("per_minute", "0.0000001", "tariff.price"), ("flat_fee", "100001", "tariff.price"),
    ("currency_code", "eur", "tariff.currency"), ("currency_code", "EURO", "tariff.currency"),
    ("currency_code", "ABC", "tariff.currency"), ("currency_code", "XAU", "tariff.currency"),
])
def test_bad_prices_are_refused_by_name_and_change_nothing(ctx, field, value, rule):
    _put(ctx, DEFAULT_SCOPE, per_kwh="0.30")
    with pytest.raises(Refusal) as refused:
        _put(ctx, DEFAULT_SCOPE, **{field: value})
    assert refused.value.rule == rule
    assert _cost(ctx, "CS-1", 1000, 0) == Decimal("0.30")


def test_reading_a_missing_tariff_is_not_found(ctx):
    with pytest.raises(NotFound):
        run_in_session(ctx, lambda s: service.get(s, "CS-9"))


def test_the_tariff_text_a_driver_reads():
    prices = service.Prices("EUR", Decimal("0.30"), Decimal("0"), Decimal("1.00"))
    assert prices.text() == "Tariff: 0.30 EUR/kWh + 1.00 EUR per session"


@pytest.mark.parametrize(("currency", "cost"), [("EUR", Decimal("0.67")), ("JPY", Decimal("1")),
                                                ("BHD", Decimal("0.667"))])
def test_a_cost_is_rounded_to_its_currency_minor_unit(ctx, currency, cost):
    _put(ctx, DEFAULT_SCOPE, currency_code=currency, per_kwh="1")
    assert _cost(ctx, "CS-1", 666.6, 0) == cost
