"""I04 (CostUpdated, as issue 11 names it; the use case is I02's running cost) — the operator
sends the running cost of a transaction with the typed command CostUpdated: the station gets
totalCost and the transactionId, and its answer is read."""

from __future__ import annotations

from core_support import Transactions, answer, booted_station, command, received
from ocpp_support import csms  # noqa: F401 - fixture


async def test_i04_cost_updated_by_the_operator(csms):
    station = await booted_station(csms, "I04")
    transaction = Transactions(station)
    await transaction.send("Started", "CablePluggedIn", info={"chargingState": "Charging"})
    answer(station, "CostUpdated", {})

    sent = await command(csms, "I04", "CostUpdated", {"total_cost": 3.21,
                                                      "transaction_id": transaction.transaction_id})

    assert sent.status_code == 200 and sent.json()["status"] == "answered", sent.text
    assert received(station, "CostUpdated") == [{"totalCost": 3.21, "transactionId": transaction.transaction_id}]
