"""O02 — Set display message for a transaction: a message with the transactionId of a running
transaction is Accepted and kept with it; one naming a transaction the station does not run is
answered UnknownTransaction and kept so."""

from __future__ import annotations

from core_support import Transactions, booted_station
from customer_support import display_messages, message, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def test_o02_message_for_a_running_transaction(csms):
    station = await booted_station(csms, "O02")
    transaction = Transactions(station)
    await transaction.send("Started", "CablePluggedIn", info={"chargingState": "Charging"})
    station.display.transactions.add(transaction.transaction_id)

    body = message(20, "Charging: 12.4 kWh, 4.80 EUR", state="Charging", transaction_id=transaction.transaction_id)
    assert (await sent(csms, station, "SetDisplayMessage", {"message": body}))["status"] == "Accepted"

    kept = (await display_messages(csms, "O02"))[20]
    assert (kept["status"], kept["transaction_id"], kept["state"]) == ("Accepted", transaction.transaction_id,
                                                                       "Charging")


async def test_o02_unknown_transaction(csms):
    station = await booted_station(csms, "O02-U")
    body = message(21, "Charging", transaction_id="no-such-transaction")
    assert (await sent(csms, station, "SetDisplayMessage", {"message": body}))["status"] == "UnknownTransaction"
    assert (await display_messages(csms, "O02-U"))[21]["status"] == "UnknownTransaction"
