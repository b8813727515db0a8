"""H03 — Use a reserved EVSE: the driver with the reserved token starts charging; the station's
TransactionEvent carries the reservationId, and the reservation is kept as used by that
transaction."""

from __future__ import annotations

from core_support import ID_TOKEN, Transactions, booted_station, eventually, reservation, reserve
from ocpp_support import csms  # noqa: F401 - fixture


async def test_h03_a_reservation_used_by_a_transaction(csms):
    station = await booted_station(csms, "H03")
    reservation_id = (await reserve(csms, station, evse_id=1)).json()["reservation_id"]
    transaction = Transactions(station)

    answered = await transaction.send("Started", "Authorized", idToken=ID_TOKEN, reservationId=reservation_id,
                                      info={"chargingState": "EVConnected"})

    assert "idTokenInfo" in answered

    async def used():
        row = await reservation(csms, "H03", reservation_id)
        return row if row["status"] == "used" else None
    row = await eventually(used)
    assert row["transaction_id"] == transaction.transaction_id
