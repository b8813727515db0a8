"""TC_E_14 — Stop transaction options: EVDisconnected, Charging Station side (E06 S2).

From EVConnectedPostSession (charging stopped by the driver, cable still in: Updated
StopAuthorized, then ChargingStateChanged EVConnected), the reusable state EVDisconnected:
Ended with triggerReason EVCommunicationLost, chargingState Idle, stoppedReason EVDisconnected,
then the connector Available again. Stored: ended, EVDisconnected, the state Idle.
"""

from __future__ import annotations

from charging_support import VALID_TOKEN, charging_for, session_started, stored, trail
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_14_stop_when_the_cable_leaves_the_station(csms):
    charging = await session_started(csms, "TC-E-14")
    await charging_for(charging, 15, 3_000)
    await charging.update("StopAuthorized", id_token=VALID_TOKEN)
    await charging.update("ChargingStateChanged", charging_state="EVConnected")

    charging.tick(30)
    assert await charging.stop("EVCommunicationLost", "EVDisconnected", charging_state="Idle",
                               meter=[charging.meter_value("Transaction.End")]) == {}
    await charging.connector("Available")

    row, events, _ = await stored(csms, "TC-E-14", charging.transaction_id)
    assert (row.stop_trigger, row.stopped_reason, row.charging_state) == ("EVCommunicationLost", "EVDisconnected", "Idle")
    assert row.energy_wh == 3_000 and trail(events)[-1] == ("Ended", "EVCommunicationLost", "Idle")
