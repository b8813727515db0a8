"""TC_J_08 — Sampled meter values, context Transaction.Begin, EVSE not known at the start (J02).

The transaction starts on the token before any cable (Started without evse, without meter
values: no EVSE, no meter yet); the Transaction.Begin reading comes in the Updated event that
names the EVSE. Stored: the reading tied to the transaction and to the EVSE given later, and the
transaction's EVSE filled in from it.
"""

from __future__ import annotations

from charging_support import VALID_TOKEN, charging_station, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_j_08_transaction_begin_reading_once_the_evse_is_known(csms):
    charging = await charging_station(csms, "TC-J-08", evse_id=2, register_wh=700)
    await charging.authorize(VALID_TOKEN)
    await charging.start("Authorized", id_token=VALID_TOKEN, with_evse=False)
    row, _, _ = await stored(csms, "TC-J-08", charging.transaction_id)
    assert row.evse_id is None

    await charging.connector("Occupied")
    assert await charging.update("CablePluggedIn", charging_state="EVConnected", with_evse=True,
                                 meter=[charging.meter_value("Transaction.Begin")]) == {}

    row, _, values = await stored(csms, "TC-J-08", charging.transaction_id)
    assert (row.evse_id, row.connector_id, row.meter_first_wh) == (2, 1, 700)
    assert [(v.context, v.evse_id, v.value) for v in values] == [("Transaction.Begin", 2, 700)]
