"""TC_J_04 — Clock-aligned signed meter values (J01, must be accepted).

Clock-aligned MeterValues whose register reading carries a signedMeterValue: the CSMS accepts it
and keeps signedMeterData, signingMethod, encodingMethod and publicKey exactly as sent, in the
database and over REST (JSON and CSV), so they can be verified later.
"""

from __future__ import annotations

import csv
import io

from charging_support import SIGNED, charging_station
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_j_04_signed_clock_aligned_meter_values(csms):
    charging = await charging_station(csms, "TC-J-04", register_wh=42_000)
    charging.tick(900)

    assert await charging.meter_values("Sample.Clock", signed=SIGNED) == {}

    listed = await csms.rest.get("/api/v1/meter-values?station_id=TC-J-04", headers=csms.headers("auditor"))
    (value,) = listed.json()["meter_values"]
    assert {name: value[name] for name in ("signed_meter_data", "signing_method", "encoding_method", "public_key")} \
        == {"signed_meter_data": SIGNED["signedMeterData"], "signing_method": SIGNED["signingMethod"],
            "encoding_method": SIGNED["encodingMethod"], "public_key": SIGNED["publicKey"]}
    as_csv = await csms.rest.get("/api/v1/meter-values?station_id=TC-J-04&format=csv", headers=csms.headers("auditor"))
    (row,) = csv.DictReader(io.StringIO(as_csv.text))
    assert row["signed_meter_data"] == SIGNED["signedMeterData"] and row["context"] == "Sample.Clock"
