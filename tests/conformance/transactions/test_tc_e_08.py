"""TC_E_08 — Stop transaction options: EnergyTransfer stopped, StopAuthorized (E06 S6).

From StopAuthorized (the driver presented the token to stop: Updated StopAuthorized with it,
answered with Accepted), the station ends the transaction when energy stops: Ended
with triggerReason ChargingStateChanged, chargingState EVConnected, stoppedReason Local.
Stored: ended, stopped Local, the charging state back to EVConnected, the token seen once.
"""

from __future__ import annotations

import json

from charging_support import ACCEPTED, VALID_TOKEN, charging_for, session_started, stored, trail
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_08_stop_when_energy_transfer_stops_after_stop_authorized(csms):
    charging = await session_started(csms, "TC-E-08")
    await charging_for(charging, 10, 2_000)
    await charging.authorize(VALID_TOKEN)
    assert await charging.update("StopAuthorized", id_token=VALID_TOKEN) == \
        {"idTokenInfo": ACCEPTED}

    assert await charging.stop("ChargingStateChanged", "Local", charging_state="EVConnected") == {}

    row, events, _ = await stored(csms, "TC-E-08", charging.transaction_id)
    assert (row.stop_trigger, row.stopped_reason, row.charging_state) == ("ChargingStateChanged", "Local", "EVConnected")
    assert row.ended_at is not None and json.loads(row.id_tokens_seen) == [VALID_TOKEN]
    assert trail(events)[-2:] == [("Updated", "StopAuthorized", None), ("Ended", "ChargingStateChanged", "EVConnected")]
