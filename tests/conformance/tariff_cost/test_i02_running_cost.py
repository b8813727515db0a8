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


async def test_i02_an_updated_after_the_end_sends_no_running_cost(csms):
    """A station that sends an Updated for a transaction it has ended (a late event, a bug) got a
    CostUpdated priced up to that event's time: 15.50 on its display after the final 3.50."""
    station = await booted_station(csms, "I02-LATE")
    await set_tariff(csms, "I02-LATE", price_per_kwh="0.40", price_per_minute="0.10", flat_fee="1.00")
    answer(station, "CostUpdated", {})
    transaction = Transactions(station)
    await transaction.send("Started", "CablePluggedIn", energy_wh=10_000.0, timestamp="2026-01-01T10:00:00Z")
    ended = await transaction.send("Ended", "EVCommunicationLost", energy_wh=12_500.0,
                                   timestamp="2026-01-01T10:15:00Z")
    assert ended["totalCost"] == 3.5

    late = await transaction.send("Updated", "MeterValuePeriodic", energy_wh=12_500.0,
                                  timestamp="2026-01-01T12:15:00Z")

    assert late == {}
    # Queued before the answer, were it queued at all.
    calls = (await csms.rest.get("/api/v1/stations/I02-LATE/calls", headers=csms.headers("auditor"))).json()
    assert [call["action"] for call in calls["calls"]] == []
    assert received(station, "CostUpdated") == []


async def test_i02_a_station_opening_many_transactions_does_not_hurry_anothers_cost(csms, monkeypatch):
    """When each running transaction's cost was last looked at is kept per connection: with one
    bound for the whole process, a station opening transaction after transaction pushed the
    others' out, and each of them then got a CostUpdated at every Updated instead of once a minute."""
    from api.csms.tariff_cost import handlers

    monkeypatch.setattr(handlers, "TRACKED_PER_STATION", 2)
    station = await booted_station(csms, "I02-PAID")
    await set_tariff(csms, "I02-PAID", price_per_kwh="0.40")
    answer(station, "CostUpdated", {})
    paid = Transactions(station)
    await paid.send("Started", "CablePluggedIn", energy_wh=0.0, timestamp="2026-01-01T10:00:00Z")
    await paid.send("Updated", "MeterValuePeriodic", energy_wh=1_000.0, timestamp="2026-01-01T10:01:00Z")
    await eventually(lambda: _costs(station, 1))

    busy = await booted_station(csms, "I02-MANY")
    for _ in range(5):
        opened = Transactions(busy)
        await opened.send("Started", "CablePluggedIn", energy_wh=0.0)
        await opened.send("Updated", "MeterValuePeriodic", energy_wh=10.0)
    await paid.send("Updated", "MeterValuePeriodic", energy_wh=2_000.0, timestamp="2026-01-01T10:02:00Z")

    calls = (await csms.rest.get("/api/v1/stations/I02-PAID/calls", headers=csms.headers("auditor"))).json()
    assert [call["action"] for call in calls["calls"]] == ["CostUpdated"]
    assert len(received(station, "CostUpdated")) == 1


async def _costs(station, count: int) -> bool:
    return len(received(station, "CostUpdated")) == count
