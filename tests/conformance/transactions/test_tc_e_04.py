"""TC_E_04 — Local start transaction, authorization first (E03).

Authorize, then Started triggerReason Authorized with the token and no evse (no cable yet, so
the station knows no EVSE), then the cable, with the EVSE: Updated CablePluggedIn EVConnected, then ChargingStateChanged Charging. Both answers that
carry the token get Accepted; stored: one transaction, three events, no gap.
"""

from __future__ import annotations

from charging_support import ACCEPTED, VALID_TOKEN, charging_station, energy_transfer_started, stored, trail
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_04_local_start_authorization_first(csms):
    charging = await charging_station(csms, "TC-E-04")
    expected = ACCEPTED

    assert await charging.authorize(VALID_TOKEN) == {"idTokenInfo": expected}
    assert await charging.start("Authorized", id_token=VALID_TOKEN, with_evse=False) == {"idTokenInfo": expected}
    await charging.connector("Occupied")
    assert await charging.update("CablePluggedIn", charging_state="EVConnected", with_evse=True) == {}
    assert await energy_transfer_started(charging) == {}

    row, events, _ = await stored(csms, "TC-E-04", charging.transaction_id)
    assert (row.start_trigger, row.id_token, row.evse_id, row.connector_id) == ("Authorized", "04E1C2D3A4B5C6", 1, 1)
    assert trail(events) == [("Started", "Authorized", None), ("Updated", "CablePluggedIn", "EVConnected"),
                             ("Updated", "ChargingStateChanged", "Charging")]
    assert row.seq_missing == 0 and row.charging_state == "Charging"
