"""TC_E_11 — Start transaction options: DataSigned (E01 S4).

Authorize, the connector Occupied, then Started triggerReason SignedDataReceived with the token,
evse and a meterValue: value 0.0, context Transaction.Begin, a signedMeterValue. The CSMS must
accept it (it need not read the signature) and keeps the signed data byte-exact for whoever
verifies it later.
"""

from __future__ import annotations

from charging_support import ACCEPTED, SIGNED, VALID_TOKEN, charging_station, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_11_start_on_signed_data(csms):
    charging = await charging_station(csms, "TC-E-11")
    await charging.authorize(VALID_TOKEN)
    await charging.connector("Occupied")

    answer = await charging.start("SignedDataReceived", id_token=VALID_TOKEN,
                                  meter=[charging.meter_value("Transaction.Begin", signed=SIGNED)])

    assert answer == {"idTokenInfo": ACCEPTED}
    row, _, values = await stored(csms, "TC-E-11", charging.transaction_id)
    assert row.start_trigger == "SignedDataReceived"
    (value,) = values
    assert (value.value, value.context) == (0.0, "Transaction.Begin")
    assert (value.signed_meter_data, value.signing_method, value.encoding_method, value.public_key) == \
        (SIGNED["signedMeterData"], SIGNED["signingMethod"], SIGNED["encodingMethod"], SIGNED["publicKey"])
