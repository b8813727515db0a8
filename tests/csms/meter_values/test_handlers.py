"""Block J handler called directly (no socket): MeterValues is acknowledged, signed or not
(TC_J_04); billing data belongs to the CSO's back office, so nothing here depends on a database."""

from __future__ import annotations

import pytest
from fake_connection import FakeStation, unreachable_database

pytestmark = pytest.mark.fast

SIGNED = {"signedMeterData": "AAECAwQ=", "signingMethod": "ECDSAP256SHA256", "encodingMethod": "OCMF",
          "publicKey": "BBB="}


@pytest.mark.parametrize("sampled", [
    {"value": 12.5},
    {"value": 1200, "measurand": "Energy.Active.Import.Register", "signedMeterValue": SIGNED},
])
async def test_meter_values_are_acknowledged_even_while_the_database_is_away(ctx, tmp_path, sampled):
    # A station that got no answer would keep them and send them again, forever.
    station = FakeStation(unreachable_database(ctx, tmp_path), "CS-1")
    payload = {"evseId": 1, "meterValue": [{"timestamp": "2025-06-01T12:00:00Z", "sampledValue": [sampled]}]}
    assert await station.send("MeterValues", payload) == {}
