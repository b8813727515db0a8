"""TC_E_02 — Start transaction options: EnergyTransfer (E01 S6).

Authorize (the CSMS answers Accepted on the valid token), the connector Occupied, then
Started with triggerReason ChargingStateChanged, chargingState Charging, the token, evse and a
Transaction.Begin register reading. Stored: the transaction started at the event's time, the
reading as its first register value.
"""

from __future__ import annotations

from charging_support import ACCEPTED, VALID_TOKEN, charging_station, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_02_start_when_energy_flows(csms):
    charging = await charging_station(csms, "TC-E-02", register_wh=12_000)
    expected = ACCEPTED

    assert await charging.authorize(VALID_TOKEN) == {"idTokenInfo": expected}
    await charging.connector("Occupied")
    answer = await charging.start("ChargingStateChanged", charging_state="Charging", id_token=VALID_TOKEN,
                                  meter=[charging.meter_value("Transaction.Begin")])

    assert answer == {"idTokenInfo": expected}
    row, _, values = await stored(csms, "TC-E-02", charging.transaction_id)
    assert row.started_at == charging.clock and row.meter_first_wh == 12_000 and row.energy_wh == 0
    assert [(v.context, v.value, v.evse_id) for v in values] == [("Transaction.Begin", 12_000, 1)]
