"""TC_E_19 — Stop transaction options: ParkingBayUnoccupied (E06 S1).

From EVDisconnected (the cable out, the transaction still running: Updated EVCommunicationLost,
Idle), Ended with triggerReason EVDeparted, stoppedReason Local when the EV leaves the bay.
Stored: ended by EVDeparted/Local, after the cable left.
"""

from __future__ import annotations

from charging_support import charging_station, stored, trail
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_19_stop_when_the_parking_bay_empties(csms):
    charging = await charging_station(csms, "TC-E-19")
    await charging.start("EVDetected", charging_state="Idle")
    await charging.connector("Occupied")
    await charging.update("CablePluggedIn", charging_state="EVConnected", with_evse=True)
    charging.tick(600)
    await charging.update("EVCommunicationLost", charging_state="Idle")
    await charging.connector("Available")

    charging.tick(60)
    assert await charging.stop("EVDeparted", "Local") == {}

    row, events, _ = await stored(csms, "TC-E-19", charging.transaction_id)
    assert (row.start_trigger, row.stop_trigger, row.stopped_reason) == ("EVDetected", "EVDeparted", "Local")
    assert trail(events)[-2:] == [("Updated", "EVCommunicationLost", "Idle"), ("Ended", "EVDeparted", None)]
