"""TC_J_11 — Signed sampled meter values (J02, SampledDataSignReadings).

Started, Updated and Ended each carry a register reading with a signedMeterValue (OCMF). All
answered; each signature kept byte-exact beside its reading and shown so over REST with the
transaction, so the begin and end readings can be verified against the station's key.
"""

from __future__ import annotations

from charging_support import SIGNED, charging_station, shown, stored
from ocpp_support import csms  # noqa: F401 - fixture


def signed(n: int) -> dict[str, str]:
    return {**SIGNED, "signedMeterData": f"{SIGNED['signedMeterData']}{n}"}


async def test_tc_j_11_signed_sampled_meter_values(csms):
    charging = await charging_station(csms, "TC-J-11", register_wh=1_000)
    await charging.connector("Occupied")
    assert await charging.start("CablePluggedIn", charging_state="EVConnected",
                                meter=[charging.meter_value("Transaction.Begin", signed=signed(0))]) == {}
    charging.tick(600)
    charging.charge(1_500)
    assert await charging.update("MeterValuePeriodic",
                                 meter=[charging.meter_value("Sample.Periodic", signed=signed(1))]) == {}
    charging.tick(600)
    charging.charge(1_500)
    assert await charging.stop("EVCommunicationLost", "EVDisconnected",
                               meter=[charging.meter_value("Transaction.End", signed=signed(2))]) == {}

    row, _, values = await stored(csms, "TC-J-11", charging.transaction_id)
    assert [(v.context, v.signed_meter_data) for v in values] == [
        ("Transaction.Begin", signed(0)["signedMeterData"]), ("Sample.Periodic", signed(1)["signedMeterData"]),
        ("Transaction.End", signed(2)["signedMeterData"])]
    assert {(v.signing_method, v.encoding_method, v.public_key) for v in values} == \
        {(SIGNED["signingMethod"], SIGNED["encodingMethod"], SIGNED["publicKey"])}
    view = await shown(csms, "TC-J-11", charging.transaction_id)
    assert [m["signed_meter_data"] for m in view["meter_values"]] == [signed(n)["signedMeterData"] for n in range(3)]
    assert row.energy_wh == 3_000
