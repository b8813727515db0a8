"""Block B handlers called directly (no socket): BootNotification and NotifyReport, what each
answers and what it leaves in the station's record."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fake_connection import FakeStation, register, rows, unreachable_database

from api.core.settings import GatewayConfig
from api.csms.provisioning.handlers import SERIAL_MISMATCH_EVENT
from api.ocpp.boot import UNKNOWN
from storage.security_events import SecurityEvent
from storage.stations import Station

pytestmark = pytest.mark.fast

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "M-1", "vendorName": "Vendor", "serialNumber": "SN-1",
                                                 "firmwareVersion": "1.0"}}
CONFIG = GatewayConfig(heartbeat_interval=120, boot_retry_interval=45)


def _station_row(ctx, station_id: str) -> Station:
    return rows(ctx, Station, Station.id == station_id)[0]


def _client_certificate(common_name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))


async def test_an_accepted_boot_gets_the_heartbeat_interval_and_is_recorded(ctx):
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1", config=CONFIG, boot_status=UNKNOWN)
    answer = await station.send("BootNotification", BOOT)
    assert (answer["status"], answer["interval"]) == ("Accepted", 120)
    assert abs(datetime.fromisoformat(answer["currentTime"]) - datetime.now(timezone.utc)) < timedelta(seconds=5)
    row = _station_row(ctx, "CS-1")
    assert (row.model, row.vendor_name, row.serial_number, row.firmware_version) == ("M-1", "Vendor", "SN-1", "1.0")
    assert row.last_boot_at is not None
    assert station.boot.accepted  # its other messages are let through from now on


async def test_a_station_held_pending_gets_the_retry_interval_and_no_boot_time(ctx):
    register(ctx, "CS-P", boot_policy="Pending")
    station = FakeStation(ctx, "CS-P", config=CONFIG, boot_status=UNKNOWN)
    answer = await station.send("BootNotification", BOOT)
    assert (answer["status"], answer["interval"]) == ("Pending", 45)
    assert _station_row(ctx, "CS-P").last_boot_at is None
    assert station.boot.status == "Pending"


async def test_the_gateways_default_boot_status_applies_to_stations_without_a_policy(ctx):
    register(ctx, "CS-D")
    register(ctx, "CS-OWN", boot_policy="Accepted")
    config = GatewayConfig(default_boot_status="Rejected", boot_retry_interval=45)
    assert (await FakeStation(ctx, "CS-D", config=config).send("BootNotification", BOOT))["status"] == "Rejected"
    assert (await FakeStation(ctx, "CS-OWN", config=config).send("BootNotification", BOOT))["status"] == "Accepted"


async def test_a_station_deleted_while_connected_is_rejected(ctx):
    answer = await FakeStation(ctx, "CS-GONE", config=CONFIG).send("BootNotification", BOOT)
    assert (answer["status"], answer["interval"]) == ("Rejected", 45)
    assert rows(ctx, Station) == []


async def test_a_boot_while_the_database_is_away_is_told_to_come_back(ctx, tmp_path):
    station = FakeStation(unreachable_database(ctx, tmp_path), "CS-1", config=CONFIG, boot_status=UNKNOWN)
    answer = await station.send("BootNotification", BOOT)
    assert (answer["status"], answer["interval"]) == ("Pending", 45)
    assert answer["statusInfo"]["reasonCode"] == "ServiceUnavailable"


async def test_new_firmware_forgets_what_the_device_model_reported(ctx):
    register(ctx, "CS-1", firmware_version="1.0", certificate_capacity=10, max_chain_size=800)
    await FakeStation(ctx, "CS-1").send("BootNotification", BOOT)  # same firmware
    assert (_station_row(ctx, "CS-1").certificate_capacity, _station_row(ctx, "CS-1").max_chain_size) == (10, 800)
    updated = {**BOOT, "chargingStation": {**BOOT["chargingStation"], "firmwareVersion": "2.0"}}
    await FakeStation(ctx, "CS-1").send("BootNotification", updated)
    row = _station_row(ctx, "CS-1")
    assert (row.firmware_version, row.certificate_capacity, row.max_chain_size) == ("2.0", None, None)


async def test_profile3_boot_must_carry_the_serial_its_certificate_names(ctx):
    # B01.FR.11/12: dropped without an answer, recorded as a critical CSMS-side security event.
    register(ctx, "CS-3", security_profile=3)
    station = FakeStation(ctx, "CS-3", security_profile=3, client_certificate=_client_certificate("CS-3"),
                          boot_status=UNKNOWN)
    other = {**BOOT, "chargingStation": {**BOOT["chargingStation"], "serialNumber": "SOMEONE-ELSE"}}
    assert await station.send("BootNotification", other) == {}
    assert "SOMEONE-ELSE" in station.disconnect_reason and "'CS-3'" in station.disconnect_reason
    [event] = rows(ctx, SecurityEvent)
    assert (event.station_id, event.type, event.source, event.critical) == ("CS-3", SERIAL_MISMATCH_EVENT, "csms", True)
    assert _station_row(ctx, "CS-3").last_boot_at is None and not station.boot.accepted


@pytest.mark.parametrize("serial_number", ["CS-3", None])
async def test_profile3_boot_with_its_own_serial_or_none_is_accepted(ctx, serial_number):
    register(ctx, "CS-3", security_profile=3)
    station = FakeStation(ctx, "CS-3", security_profile=3, client_certificate=_client_certificate("CS-3"))
    info = {**BOOT["chargingStation"], "serialNumber": serial_number}
    if serial_number is None:
        del info["serialNumber"]
    assert (await station.send("BootNotification", {**BOOT, "chargingStation": info}))["status"] == "Accepted"
    assert station.disconnect_reason is None and rows(ctx, SecurityEvent) == []


def _report(*entries, seq_no: int = 0) -> dict:
    return {"requestId": 7, "generatedAt": "2025-06-01T12:00:00Z", "seqNo": seq_no, "tbc": False,
            "reportData": list(entries)}


def _entry(component: str, variable: str, **characteristics) -> dict:
    entry = {"component": {"name": component}, "variable": {"name": variable},
             "variableAttribute": [{"type": "Actual", "value": "x"}]}
    if characteristics:
        entry["variableCharacteristics"] = {"dataType": "integer", "supportsMonitoring": False, **characteristics}
    return entry


async def test_a_report_naming_the_certificate_capacity_stores_it(ctx):
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1")
    answer = await station.send("NotifyReport", _report(_entry("OCPPCommCtrlr", "HeartbeatInterval"),
                                                        _entry("SecurityCtrlr", "CertificateEntries", maxLimit=24)))
    assert answer == {}
    assert _station_row(ctx, "CS-1").certificate_capacity == 24


@pytest.mark.parametrize("entry", [
    _entry("SecurityCtrlr", "CertificateEntries"),               # listed without a maxLimit: says nothing
    _entry("SecurityCtrlr", "CertificateEntries", maxLimit=2.5),  # a fraction is a station's bug
    _entry("SecurityCtrlr", "CertificateEntries", maxLimit=-1),
    _entry("SecurityCtrlr", "CertificateEntries", maxLimit=float("nan")),
    # JSON allows an integer of 400 digits: it was an InternalError (OverflowError), the part lost.
    _entry("SecurityCtrlr", "CertificateEntries", maxLimit=10**400),
    _entry("OCPPCommCtrlr", "HeartbeatInterval", maxLimit=99),
])
async def test_a_report_without_a_usable_capacity_keeps_the_one_stored(ctx, entry):
    register(ctx, "CS-1", certificate_capacity=10)
    assert await FakeStation(ctx, "CS-1").send("NotifyReport", _report(entry, seq_no=1)) == {}
    assert _station_row(ctx, "CS-1").certificate_capacity == 10


@pytest.mark.parametrize(("min_limit", "max_limit", "interval"), [
    (1, 10, 10),          # a station that takes 1-10 s is told 10
    (1e300, None, 120),   # was a 301-digit interval: an invalid answer, InternalError at every boot
    (None, -5, 120),      # was -5
    (None, 0.5, 120),     # was 0
    (2**31, None, 120),   # beyond OCPP's 32 bits
])
async def test_the_boot_interval_ignores_limits_no_interval_can_meet(ctx, min_limit, max_limit, interval):
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1", config=CONFIG, boot_status=UNKNOWN)
    limits = {key: value for key, value in (("minLimit", min_limit), ("maxLimit", max_limit)) if value is not None}
    await station.send("NotifyReport", _report(_entry("OCPPCommCtrlr", "HeartbeatInterval", **limits)))
    answer = await station.send("BootNotification", BOOT)
    assert (answer["status"], answer["interval"]) == ("Accepted", interval)


@pytest.mark.parametrize("policy", ["Rejected", "Pending"])
async def test_boots_turned_away_are_logged_a_bounded_number_of_times(ctx, caplog, policy):
    """A line at INFO per boot: as many lines as a station turned away chose to send."""
    register(ctx, "CS-R", boot_policy=policy)
    station = FakeStation(ctx, "CS-R", config=CONFIG, boot_status=UNKNOWN)
    with caplog.at_level(logging.INFO, logger="chargeca.ocpp.provisioning"):
        for _ in range(20):
            assert (await station.send("BootNotification", BOOT))["status"] == policy
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 5 and lines[0] == f"BootNotification from CS-R (PowerUp): {policy}"
    assert lines[-1].endswith("(16 times within 10 minutes)")


async def test_boots_while_the_database_is_away_are_logged_a_bounded_number_of_times(ctx, tmp_path, caplog):
    station = FakeStation(unreachable_database(ctx, tmp_path), "CS-1", config=CONFIG, boot_status=UNKNOWN)
    with caplog.at_level(logging.WARNING, logger="chargeca.ocpp.provisioning"):
        for _ in range(20):
            assert (await station.send("BootNotification", BOOT))["status"] == "Pending"
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 5 and lines[0].startswith("BootNotification from CS-1 answered Pending: the database")
    assert lines[-1].endswith("(16 times within 10 minutes)")
