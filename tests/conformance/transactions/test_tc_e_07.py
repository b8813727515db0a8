"""TC_E_07 — Stop transaction options: PowerPathClosed, local stop (E06 S5).

From EnergyTransferStarted, the station sends Ended with triggerReason StopAuthorized,
stoppedReason Local and the Transaction.End register; the CSMS answers it. Stored: the
transaction ended at the event's time, its stop trigger and reason, the energy charged.
"""

from __future__ import annotations

from charging_support import charging_for, session_started, shown, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_07_local_stop(csms):
    charging = await session_started(csms, "TC-E-07")
    await charging_for(charging, 30, 5_500)
    charging.tick(60)

    answer = await charging.stop("StopAuthorized", "Local", meter=[charging.meter_value("Transaction.End")])

    assert "idTokenInfo" not in answer
    row, _, _ = await stored(csms, "TC-E-07", charging.transaction_id)
    assert (row.stop_trigger, row.stopped_reason, row.ended_at) == ("StopAuthorized", "Local", charging.clock)
    assert row.energy_wh == 5_500
    assert (await shown(csms, "TC-E-07", charging.transaction_id))["state"] == "ended"
