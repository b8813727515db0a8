"""TC_E_12 — Start transaction options: ParkingBayOccupied (E01 S1).

Started with triggerReason EVDetected (an EV drove into the bay; no cable, no token): answered
without idTokenInfo. Stored: an ongoing transaction started by EVDetected.
"""

from __future__ import annotations

from charging_support import charging_station, stored, trail
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_12_start_when_the_parking_bay_is_occupied(csms):
    charging = await charging_station(csms, "TC-E-12")

    assert await charging.start("EVDetected", charging_state="Idle") == {}

    row, events, _ = await stored(csms, "TC-E-12", charging.transaction_id)
    assert (row.start_trigger, row.ended_at, row.id_token) == ("EVDetected", None, None)
    assert trail(events) == [("Started", "EVDetected", "Idle")]
