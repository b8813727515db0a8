"""TC_E_22 — Stop transaction options: EnergyTransfer stopped, SuspendedEV (E06 S6).

From EnergyTransferStarted the EV stops taking energy and the station ends the transaction:
Ended with triggerReason ChargingStateChanged, chargingState SuspendedEV, stoppedReason
StoppedByEV. Stored: ended StoppedByEV in state SuspendedEV.
"""

from __future__ import annotations

from charging_support import charging_for, session_started, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_22_stop_when_the_ev_suspends(csms):
    charging = await session_started(csms, "TC-E-22")
    await charging_for(charging, 25, 6_000)

    assert await charging.stop("ChargingStateChanged", "StoppedByEV", charging_state="SuspendedEV",
                               meter=[charging.meter_value("Transaction.End")]) == {}

    row, _, _ = await stored(csms, "TC-E-22", charging.transaction_id)
    assert (row.stop_trigger, row.stopped_reason, row.charging_state) == \
        ("ChargingStateChanged", "StoppedByEV", "SuspendedEV")
    assert row.ended_at is not None and row.energy_wh == 6_000
