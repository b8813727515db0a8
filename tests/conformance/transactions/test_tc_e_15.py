"""TC_E_15 — Stop transaction options: StopAuthorized, local (E06 S3).

From EnergyTransferStarted the driver presents the token to stop: Authorize, then Ended with
triggerReason StopAuthorized, stoppedReason Local and the token: the answer carries the CSMS's
verdict on it. Stored: ended by StopAuthorized/Local with the token among those seen.
"""

from __future__ import annotations

from charging_support import ACCEPTED, VALID_TOKEN, charging_for, session_started, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_15_stop_authorized_locally(csms):
    charging = await session_started(csms, "TC-E-15")
    await charging_for(charging, 20, 4_000)
    expected = ACCEPTED

    assert await charging.authorize(VALID_TOKEN) == {"idTokenInfo": expected}
    answer = await charging.stop("StopAuthorized", "Local", id_token=VALID_TOKEN,
                                 meter=[charging.meter_value("Transaction.End")])

    assert answer == {"idTokenInfo": expected}
    row, events, _ = await stored(csms, "TC-E-15", charging.transaction_id)
    assert (row.stop_trigger, row.stopped_reason) == ("StopAuthorized", "Local")
    assert events[-1].id_token == VALID_TOKEN["idToken"] and row.energy_wh == 4_000
