"""TC_J_10 — Sampled meter values in the Ended event (J02, SampledDataTxEndedMeasurands).

Ended carries the Transaction.End reading (and the periodic samples taken since the last
Updated). Stored: the end reading as the transaction's last, the energy last − first, ended.
"""

from __future__ import annotations

from charging_support import charging_for, session_started, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_j_10_sampled_values_in_ended(csms):
    charging = await session_started(csms, "TC-J-10")
    await charging_for(charging, 30, 4_000)
    charging.tick(60)
    charging.charge(100)
    periodic = charging.meter_value("Sample.Periodic")
    charging.tick(30)
    charging.charge(50)

    assert await charging.stop("StopAuthorized", "Local",
                               meter=[periodic, charging.meter_value("Transaction.End")]) == {}

    row, _, values = await stored(csms, "TC-J-10", charging.transaction_id)
    assert [(v.context, v.value) for v in values][-2:] == [("Sample.Periodic", 4_100), ("Transaction.End", 4_150)]
    assert (row.meter_last_wh, row.energy_wh, row.meter_last_at) == (4_150, 4_150, charging.clock)
