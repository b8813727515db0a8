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


async def test_i03_an_energy_too_great_to_price_is_stored_and_answered_without_a_cost(csms):
    # 10^30 Wh at 0.50/kWh is 5 × 10^26 EUR, past the 28 digits a cost is computed in: the
    # running cost after the Updated and the final cost of the Ended were an InternalError (the
    # Updated's after it was kept, the Ended's instead of keeping it). Omitted, totalCost says
    # "not free" (the schema), which is all anyone can say of it.
    station = await booted_station(csms, "I03-HUGE")
    await set_tariff(csms, "I03-HUGE", price_per_kwh="0.50")
    transaction = Transactions(station)
    assert await transaction.send("Started", "CablePluggedIn", energy_wh=0.0) == {}
    assert await transaction.send("Updated", "MeterValuePeriodic", energy_wh=1e30) == {}
    ended = await transaction.send("Ended", "EVDeparted", energy_wh=1e30, info={"stoppedReason": "Local"})
    assert ended == {}
    detail = await csms.rest.get(f"/api/v1/transactions/I03-HUGE/{transaction.transaction_id}",
                                 headers=csms.headers("operator"))
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert [event["event_type"] for event in body["event_list"]] == ["Started", "Updated", "Ended"]
    assert (body["energy_wh"], body["state"]) == (1e30, "ended")
