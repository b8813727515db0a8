"""TC_E_09 — Start transaction options: EVConnected (E01 S2).

The connector Occupied (StatusNotification and NotifyEvent, both answered), then Started with
triggerReason CablePluggedIn, evse and chargingState EVConnected, no token: the answer carries
no idTokenInfo. Stored: an ongoing transaction on that EVSE/connector, no token, state EVConnected.
"""

from __future__ import annotations

from charging_support import charging_station, shown, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_09_start_when_the_ev_is_connected(csms):
    charging = await charging_station(csms, "TC-E-09", evse_id=2, connector_id=1)
    await charging.connector("Occupied")

    assert await charging.start("CablePluggedIn", charging_state="EVConnected") == {}

    row, _, _ = await stored(csms, "TC-E-09", charging.transaction_id)
    assert (row.evse_id, row.connector_id, row.id_token, row.charging_state) == (2, 1, None, "EVConnected")
    view = await shown(csms, "TC-E-09", charging.transaction_id)
    assert view["state"] == "ongoing" and view["start_trigger"] == "CablePluggedIn"
