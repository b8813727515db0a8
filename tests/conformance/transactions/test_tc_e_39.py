"""TC_E_39 — Stop transaction options: Deauthorized, timeout (E03.FR.05, E06).

From Authorized (the transaction started on the token, TxStartPoint Authorized), the cable is
never plugged in; after EVConnectionTimeOut the station ends it: Ended with triggerReason
EVConnectTimeout, stoppedReason Timeout. Stored: ended Timeout, no energy, no EVSE state.
"""

from __future__ import annotations

from charging_support import VALID_TOKEN, charging_station, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_39_deauthorized_after_the_connection_timeout(csms):
    charging = await charging_station(csms, "TC-E-39")
    await charging.authorize(VALID_TOKEN)
    await charging.start("Authorized", id_token=VALID_TOKEN)

    charging.tick(120)
    assert await charging.stop("EVConnectTimeout", "Timeout") == {}

    row, _, values = await stored(csms, "TC-E-39", charging.transaction_id)
    assert (row.stop_trigger, row.stopped_reason, row.energy_wh, values) == ("EVConnectTimeout", "Timeout", None, [])
    assert (row.ended_at - row.started_at).total_seconds() == 120
