"""TC_F_13_CSMS — TriggerMessage TransactionEvent for a specific EVSE (`evse.id`) (F06, C-29.2): while a transaction
runs, the station answers Accepted and sends a TransactionEvent Updated with triggerReason
Trigger and a meter value of context Trigger; the CSMS answers it."""

from __future__ import annotations

from core_support import Transactions, booted_station, eventually, received, trigger
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_13_trigger_transaction_event(csms):
    station = await booted_station(csms, "TC-F-13")
    transaction = Transactions(station)
    await transaction.send("Started", "CablePluggedIn", info={"chargingState": "Charging"})

    sent, answers = await trigger(csms, station, "TransactionEvent", {"id": 1}, then=lambda _st, _p: transaction.send(
        "Updated", "Trigger", energy_wh=1500.0, info={"chargingState": "Charging"}))

    assert sent.status_code == 200 and sent.json()["result"]["status"] == "Accepted", sent.text
    assert received(station, "TriggerMessage") == [{"requestedMessage": "TransactionEvent", "evse": {"id": 1}}]

    async def done():
        return answers
    assert await eventually(done) == [{}]
