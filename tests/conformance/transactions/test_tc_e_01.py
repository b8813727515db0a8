"""TC_E_01 — Start transaction options: PowerPathClosed (E01 S5).

Authorize with the valid token (the CSMS answers Accepted), the connector Occupied
(StatusNotification and NotifyEvent), then TransactionEvent Started, triggerReason
ChargingStateChanged, chargingState Charging, with the token and evse: the answer carries the
same Accepted. Stored: the transaction with its EVSE, token, start trigger and state.
"""

from __future__ import annotations

from charging_support import ACCEPTED, VALID_TOKEN, charging_station, stored, trail
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_01_start_when_the_power_path_closes(csms):
    charging = await charging_station(csms, "TC-E-01")
    expected = ACCEPTED

    assert await charging.authorize(VALID_TOKEN) == {"idTokenInfo": expected}
    await charging.connector("Occupied")
    answer = await charging.start("ChargingStateChanged", charging_state="Charging", id_token=VALID_TOKEN)

    assert answer == {"idTokenInfo": expected}
    row, events, _ = await stored(csms, "TC-E-01", charging.transaction_id)
    assert (row.evse_id, row.connector_id, row.id_token, row.id_token_type) == (1, 1, "04E1C2D3A4B5C6", "ISO14443")
    assert (row.start_trigger, row.charging_state, row.unknown_start) == ("ChargingStateChanged", "Charging", False)
    assert trail(events) == [("Started", "ChargingStateChanged", "Charging")]
