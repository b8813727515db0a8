"""TC_J_01 — Clock-aligned meter values, no transaction ongoing (J01.FR.18).

Three clock-aligned rounds, each a MeterValuesRequest (context Sample.Clock) for evseId 0 (the
station's main meter) and for every EVSE, plus the FiscalMetering NotifyEvent (trigger
Periodic). All answered; stored: one row per sampled value with its timestamp, EVSE, context,
measurand and unit, outside any transaction, readable over REST.
"""

from __future__ import annotations

from charging_support import charging_station
from fake_connection import sampled
from ocpp_support import csms  # noqa: F401 - fixture

from storage.meter_values import MeterReading


async def test_tc_j_01_clock_aligned_meter_values_without_a_transaction(csms):
    charging = await charging_station(csms, "TC-J-01", register_wh=100_000)
    for _ in range(3):
        charging.tick(900)
        for evse_id in (0, 1):
            assert await charging.meter_values("Sample.Clock", evse_id=evse_id) == {}
        assert await charging.station.call("NotifyEvent", {"generatedAt": charging.now, "seqNo": 0, "eventData": [{
            "eventId": 2, "timestamp": charging.now, "trigger": "Periodic", "actualValue": str(charging.register_wh),
            "eventNotificationType": "HardWiredMonitor", "component": {"name": "FiscalMetering"},
            "variable": {"name": "EnergyImport"}}]}) == {}

    rows = sampled(csms.ctx, MeterReading.station_id == "TC-J-01")
    assert [(r.evse_id, r.context, r.measurand, r.unit, r.transaction_pk) for r in rows] == \
        [(evse, "Sample.Clock", "Energy.Active.Import.Register", "Wh", None) for _ in range(3) for evse in (0, 1)]
    times = sorted({r.sampled_at for r in rows})
    assert [(b - a).total_seconds() for a, b in zip(times, times[1:])] == [900, 900]
    listed = await csms.rest.get("/api/v1/meter-values?station_id=TC-J-01", headers=csms.headers("auditor"))
    assert len(listed.json()["meter_values"]) == 6
