"""TC_E_26 — Disconnect the cable on the EV side: suspend, then resume (E10, TxStopPoint not
EVConnected).

From EnergyTransferStarted the cable leaves the EV: Updated EVCommunicationLost, chargingState
Idle (the transaction goes on); plugged in again: Updated CablePluggedIn EVConnected, then
ChargingStateChanged Charging. Stored: still ongoing, the timeline through Idle and back, the
energy across the interruption.
"""

from __future__ import annotations

from charging_support import charging_for, session_started, shown, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_26_suspend_on_ev_side_disconnect_then_resume(csms):
    charging = await session_started(csms, "TC-E-26")
    await charging_for(charging, 10, 2_000)

    charging.tick(5)
    assert await charging.update("EVCommunicationLost", charging_state="Idle") == {}
    await charging.connector("Available")
    charging.tick(120)
    await charging.connector("Occupied")
    assert await charging.update("CablePluggedIn", charging_state="EVConnected") == {}
    assert await charging.update("ChargingStateChanged", charging_state="Charging") == {}
    await charging_for(charging, 10, 1_000)

    row, _, _ = await stored(csms, "TC-E-26", charging.transaction_id)
    assert (row.ended_at, row.charging_state, row.energy_wh) == (None, "Charging", 3_000)
    view = await shown(csms, "TC-E-26", charging.transaction_id)
    assert [s["charging_state"] for s in view["charging_states"]] == \
        ["EVConnected", "Charging", "Idle", "EVConnected", "Charging"]
