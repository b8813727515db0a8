"""TC_J_07 — Sampled meter values in the Started event (J02, SampledDataTxStartedMeasurands).

Started carries a meterValue in context Transaction.Begin (register, current per phase). Stored:
each sampled value with measurand, phase and unit, tied to the new transaction; the register as
the transaction's first reading.
"""

from __future__ import annotations

from charging_support import charging_station, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_j_07_sampled_values_in_started(csms):
    charging = await charging_station(csms, "TC-J-07", register_wh=5_000)
    await charging.connector("Occupied")
    currents = [{"value": 0.0, "measurand": "Current.Import", "phase": phase, "context": "Transaction.Begin",
                 "unitOfMeasure": {"unit": "A"}} for phase in ("L1", "L2", "L3")]

    assert await charging.start("CablePluggedIn", charging_state="EVConnected",
                                meter=[charging.meter_value("Transaction.Begin", extra=currents)]) == {}

    row, _, values = await stored(csms, "TC-J-07", charging.transaction_id)
    assert [(v.measurand, v.phase, v.unit, v.context) for v in values] == [
        ("Energy.Active.Import.Register", None, "Wh", "Transaction.Begin"),
        ("Current.Import", "L1", "A", "Transaction.Begin"), ("Current.Import", "L2", "A", "Transaction.Begin"),
        ("Current.Import", "L3", "A", "Transaction.Begin")]
    assert row.meter_first_wh == 5_000 and all(v.evse_id == 1 for v in values)
