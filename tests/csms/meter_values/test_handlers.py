"""Block J handler called directly (no socket): each MeterValue stored as one reading of its
sampledValues in the order sent, the spec's defaults filled in, signed data byte-exact (TC_J_04);
a database outage is a CALLERROR, never an acknowledgement of values that were not kept."""

from __future__ import annotations

import pytest
from fake_connection import FakeStation, sampled, unreachable_database

pytestmark = pytest.mark.fast

SIGNED = {"signedMeterData": "T0NNRnx7IkZWIjoiMS4wIn0=\n+/=", "signingMethod": "ECDSA-secp256r1-SHA256",
          "encodingMethod": "OCMF", "publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE+/=="}


async def test_each_meter_value_is_a_reading_of_its_sampled_values_with_the_defaults_filled_in(ctx):
    payload = {"evseId": 1, "meterValue": [
        {"timestamp": "2025-06-01T12:00:00Z", "sampledValue": [
            {"value": 1200.5},
            {"value": 16.2, "measurand": "Current.Import", "phase": "L1", "location": "Outlet",
             "context": "Sample.Clock", "unitOfMeasure": {"unit": "A"}}]},
        {"timestamp": "2025-06-01T12:15:00+02:00", "sampledValue": [
            {"value": 1.3, "unitOfMeasure": {"unit": "kWh", "multiplier": 1}}]}]}
    assert await FakeStation(ctx, "CS-1").send("MeterValues", payload) == {}

    stored = sampled(ctx)
    assert [(r.measurand, r.context, r.value, r.phase, r.location, r.unit, r.multiplier, r.evse_id)
            for r in stored] == [
        ("Energy.Active.Import.Register", "Sample.Periodic", 1200.5, None, None, None, 0, 1),
        ("Current.Import", "Sample.Clock", 16.2, "L1", "Outlet", "A", 0, 1),
        ("Energy.Active.Import.Register", "Sample.Periodic", 1.3, None, None, "kWh", 1, 1)]
    assert stored[2].sampled_at.isoformat() == "2025-06-01T10:15:00+00:00"
    assert [r.position for r in stored] == [0, 1, 0] and stored[0].id == stored[1].id != stored[2].id
    assert all(r.station_id == "CS-1" and r.transaction_pk is None for r in stored)


async def test_signed_meter_values_are_kept_byte_exact(ctx):
    # Text beyond ASCII, a JSON escape's look-alike and a line separator come back as sent.
    other = {**SIGNED, "signedMeterData": 'ÖCMF|{"é":"\\u0041"}\u2028', "encodingMethod": "OCMF-ü"}
    payload = {"evseId": 0, "meterValue": [{"timestamp": "2025-06-01T12:00:00Z", "sampledValue": [
        {"value": 1200, "context": "Sample.Clock", "signedMeterValue": SIGNED},
        {"value": 1200, "context": "Sample.Clock", "signedMeterValue": other}]}]}
    assert await FakeStation(ctx, "CS-1").send("MeterValues", payload) == {}
    first, second = sampled(ctx)
    assert (first.signed_meter_data, first.signing_method, first.encoding_method,
            first.public_key) == tuple(SIGNED.values())
    assert (second.signed_meter_data, second.encoding_method) == (other["signedMeterData"], "OCMF-ü")


async def test_meter_values_the_database_cannot_take_are_not_acknowledged(ctx, tmp_path):
    from storage.db import DatabaseUnavailable

    station = FakeStation(unreachable_database(ctx, tmp_path), "CS-1")
    payload = {"evseId": 1, "meterValue": [{"timestamp": "2025-06-01T12:00:00Z", "sampledValue": [{"value": 1}]}]}
    with pytest.raises(DatabaseUnavailable):
        await station.send("MeterValues", payload)


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
async def test_a_value_that_is_no_finite_number_is_refused_and_nothing_is_kept(ctx, value):
    from api.ocpp.framing import OcppError

    payload = {"evseId": 1, "meterValue": [{"timestamp": "2025-06-01T12:00:00Z",
                                            "sampledValue": [{"value": 1}, {"value": value}]}]}
    with pytest.raises(OcppError) as refused:
        await FakeStation(ctx, "CS-1").send("MeterValues", payload)
    assert refused.value.details == {"field": "meterValue[0].sampledValue[1].value"}
    assert sampled(ctx) == []
