"""I03 — Final cost after charging: the answer to TransactionEvent Ended carries totalCost, the
whole transaction priced at the station's tariff (or the default one), rounded half-up to the
cent; a free tariff shows 0.00, never nothing (the schema: omitted means not free)."""

from __future__ import annotations

from core_support import Transactions, booted_station, set_tariff
from ocpp_support import csms  # noqa: F401 - fixture


async def test_i03_the_final_cost_is_in_the_ended_answer(csms):
    station = await booted_station(csms, "I03")
    await set_tariff(csms, None, price_per_kwh="0.333", flat_fee="0.50")
    transaction = Transactions(station)
    await transaction.send("Started", "CablePluggedIn", energy_wh=1000.0, timestamp="2026-01-01T10:00:00Z")

    ended = await transaction.send("Ended", "EVDeparted", energy_wh=8_500.0, timestamp="2026-01-01T11:00:00Z",
                                   info={"stoppedReason": "EVDisconnected"})

    # 7.5 kWh × 0.333 = 2.4975, + 0.50 = 2.9975 → 3.00
    assert ended["totalCost"] == 3.0


async def test_i03_a_free_tariff_costs_zero(csms):
    station = await booted_station(csms, "I03-FREE")
    await set_tariff(csms, "I03-FREE")
    transaction = Transactions(station)
    await transaction.send("Started", "CablePluggedIn", energy_wh=0.0)
    ended = await transaction.send("Ended", "EVDeparted", energy_wh=2000.0, info={"stoppedReason": "Local"})
    assert ended["totalCost"] == 0.0
