"""I02 — Running cost during charging: with a tariff at the station, the CSMS sends the cost so
far as CostUpdated (at most once a minute per transaction, through the outbox); the answer to
Updated carries no totalCost (the schema keeps it for the end of charging, I03); without a tariff
nothing is sent."""

from __future__ import annotations

from core_support import Transactions, answer, booted_station, eventually, received, set_tariff
from ocpp_support import csms  # noqa: F401 - fixture


async def test_i02_the_running_cost_goes_to_the_station(csms):
    station = await booted_station(csms, "I02")
    await set_tariff(csms, "I02", price_per_kwh="0.40", price_per_minute="0.10", flat_fee="1.00")
    answer(station, "CostUpdated", {})
    transaction = Transactions(station)
    await transaction.send("Started", "CablePluggedIn", energy_wh=10_000.0, timestamp="2026-01-01T10:00:00Z")

    first = await transaction.send("Updated", "MeterValuePeriodic", energy_wh=12_500.0,
                                   timestamp="2026-01-01T10:15:00Z")
    second = await transaction.send("Updated", "MeterValuePeriodic", energy_wh=13_000.0,
                                    timestamp="2026-01-01T10:20:00Z")

    assert "totalCost" not in first and "totalCost" not in second

    # 2.5 kWh × 0.40 + 15 min × 0.10 + 1.00 = 3.50; the second Updated is within the minute.

    async def sent():
        return received(station, "CostUpdated")
    assert await eventually(sent) == [{"totalCost": 3.5, "transactionId": transaction.transaction_id}]


async def test_i02_no_tariff_no_cost(csms):
    station = await booted_station(csms, "I02-FREE")
    transaction = Transactions(station)
    await transaction.send("Started", "CablePluggedIn", energy_wh=0.0)
    updated = await transaction.send("Updated", "MeterValuePeriodic", energy_wh=500.0)
    assert "totalCost" not in updated
    assert received(station, "CostUpdated") == []
