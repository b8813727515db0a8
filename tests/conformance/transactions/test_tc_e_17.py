"""TC_E_17 — Stop transaction options: Deauthorized, EV side disconnect (E06 S3).

From EnergyTransferSuspended (Updated ChargingStateChanged SuspendedEV), Ended with
triggerReason EVCommunicationLost, chargingState Idle, stoppedReason EVDisconnected. Stored: the
timeline Charging → SuspendedEV → Idle, ended EVDisconnected.
"""

from __future__ import annotations

from charging_support import charging_for, session_started, shown, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_17_stop_when_the_ev_side_disconnects(csms):
    charging = await session_started(csms, "TC-E-17")
    await charging_for(charging, 10, 1_500)
    charging.tick(10)
    assert await charging.update("ChargingStateChanged", charging_state="SuspendedEV") == {}

    charging.tick(10)
    assert await charging.stop("EVCommunicationLost", "EVDisconnected", charging_state="Idle") == {}

    row, _, _ = await stored(csms, "TC-E-17", charging.transaction_id)
    assert (row.stop_trigger, row.stopped_reason, row.charging_state) == ("EVCommunicationLost", "EVDisconnected", "Idle")
    timeline = [s["charging_state"] for s in (await shown(csms, "TC-E-17", charging.transaction_id))["charging_states"]]
    assert timeline == ["EVConnected", "Charging", "SuspendedEV", "Idle"]
