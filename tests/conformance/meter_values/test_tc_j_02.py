"""TC_J_02 — Clock-aligned meter values in a transaction (J01, J02).

While charging, at each clock interval the station sends TransactionEvent Updated with
triggerReason MeterValueClock and a meterValue in context Sample.Clock (register and power).
All answered; stored: the values tied to the transaction, the energy following the register.
"""

from __future__ import annotations

from charging_support import session_started, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_j_02_clock_aligned_meter_values_in_a_transaction(csms):
    charging = await session_started(csms, "TC-J-02")
    power = {"value": 7_200, "measurand": "Power.Active.Import", "context": "Sample.Clock", "unitOfMeasure": {"unit": "W"}}
    for _ in range(3):
        charging.tick(900)
        charging.charge(1_800)
        meter = [charging.meter_value("Sample.Clock", extra=[power])]
        assert await charging.update("MeterValueClock", meter=meter) == {}

    row, _, values = await stored(csms, "TC-J-02", charging.transaction_id)
    clock = [(v.measurand, v.value) for v in values if v.context == "Sample.Clock"]
    assert clock == [("Energy.Active.Import.Register", 1_800), ("Power.Active.Import", 7_200),
                     ("Energy.Active.Import.Register", 3_600), ("Power.Active.Import", 7_200),
                     ("Energy.Active.Import.Register", 5_400), ("Power.Active.Import", 7_200)]
    assert row.energy_wh == 5_400
