"""TC_E_20 — Stop transaction options: EVDisconnected, EV side, while charging (E06 S2).

From EnergyTransferStarted the cable is pulled at the EV while energy flows: Ended with
triggerReason EVCommunicationLost, chargingState Idle, stoppedReason EVDisconnected and the
Transaction.End register; the connector Available again. Stored: ended with the energy up to the
last reading.
"""

from __future__ import annotations

from charging_support import charging_for, session_started, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_20_stop_when_the_ev_unplugs_while_charging(csms):
    charging = await session_started(csms, "TC-E-20")
    await charging_for(charging, 45, 9_000)
    charging.charge(250)

    assert await charging.stop("EVCommunicationLost", "EVDisconnected", charging_state="Idle",
                               meter=[charging.meter_value("Transaction.End")]) == {}
    await charging.connector("Available")

    row, _, values = await stored(csms, "TC-E-20", charging.transaction_id)
    assert (row.stopped_reason, row.energy_wh, row.meter_last_wh) == ("EVDisconnected", 9_250, 9_250)
    assert values[-1].context == "Transaction.End"
