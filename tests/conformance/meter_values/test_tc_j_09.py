"""TC_J_09 — Sampled meter values in Updated events (J02, SampledDataTxUpdatedMeasurands).

While charging, every sample interval: Updated with triggerReason MeterValuePeriodic and a
meterValue in context Sample.Periodic (register, power, SoC). Stored: every sampled value, the
register readings in order, the energy so far; the transaction still ongoing.
"""

from __future__ import annotations

from charging_support import session_started, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_j_09_sampled_values_in_updated(csms):
    charging = await session_started(csms, "TC-J-09")
    for soc in (40, 45, 50):
        charging.tick(60)
        charging.charge(120)
        extra = [{"value": 7_200, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
                 {"value": soc, "measurand": "SoC", "location": "EV", "unitOfMeasure": {"unit": "Percent"}}]
        assert await charging.update("MeterValuePeriodic",
                                     meter=[charging.meter_value("Sample.Periodic", extra=extra)]) == {}

    row, _, values = await stored(csms, "TC-J-09", charging.transaction_id)
    periodic = [v for v in values if v.context == "Sample.Periodic"]
    assert [v.value for v in periodic if v.measurand == "SoC"] == [40, 45, 50]
    assert all(v.location == "EV" for v in periodic if v.measurand == "SoC")
    assert [v.value for v in periodic if v.measurand == "Energy.Active.Import.Register"] == [0, 120, 240, 360]
    assert (row.energy_wh, row.ended_at) == (360, None)
