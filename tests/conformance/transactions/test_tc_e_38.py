"""TC_E_38 — Local start transaction: EV not ready (E03).

From Authorized (Authorize; Started Authorized with the token), EVConnectedPreSession (cable in:
Updated CablePluggedIn EVConnected), then the EV is not ready to take energy: Updated
ChargingStateChanged, chargingState SuspendedEV. Each answered; stored: ongoing, SuspendedEV.
"""

from __future__ import annotations

from charging_support import ACCEPTED, VALID_TOKEN, charging_station, stored, trail
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_38_ev_not_ready(csms):
    charging = await charging_station(csms, "TC-E-38")
    await charging.authorize(VALID_TOKEN)
    assert await charging.start("Authorized", id_token=VALID_TOKEN) == \
        {"idTokenInfo": ACCEPTED}
    await charging.connector("Occupied")
    assert await charging.update("CablePluggedIn", charging_state="EVConnected") == {}

    assert await charging.update("ChargingStateChanged", charging_state="SuspendedEV") == {}

    row, events, _ = await stored(csms, "TC-E-38", charging.transaction_id)
    assert (row.ended_at, row.charging_state) == (None, "SuspendedEV")
    assert trail(events)[-1] == ("Updated", "ChargingStateChanged", "SuspendedEV")
