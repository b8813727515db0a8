"""What the CSMS answers to each station message, and what it keeps of it."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from migrated_template import migrate_for_test
from ocpp_support import csms, tls_csms  # noqa: F401 - fixtures
from sqlmodel import select

from api.core.audit import Actor
from api.csms.provisioning.device_model import store_entries
from api.csms.provisioning.handlers import DEVICE_MODEL_COLUMNS, SERIAL_MISMATCH_EVENT, _record_boot
from api.csms.security.authority_service import sign_csr
from policies.model import DeviceModelPolicy, OnboardingPolicy
from simulator.station import CallError
from storage.db import make_engine, session_scope
from storage.device_model import StationOnboarding, StationReset
from storage.stations import Station

NOW = "2025-06-01T12:00:00Z"


@pytest.fixture
async def station(csms):
    password = csms.add_station("CS-H")
    raw = await csms.connect_raw("CS-H", password)
    await raw.boot()
    return raw


async def _answer(station, action, payload):
    frame = await station.call(action, payload)
    assert frame[0] == 3, frame
    return frame[2]


async def test_boot_notification_answers_the_heartbeat_interval_and_records_the_station(csms):
    password = csms.add_station("CS-BOOT")
    raw = await csms.connect_raw("CS-BOOT", password)
    answer = await raw.boot()
    assert answer["status"] == "Accepted" and answer["interval"] == 300
    current = datetime.fromisoformat(answer["currentTime"])
    assert abs(current - datetime.now(timezone.utc)) < timedelta(seconds=5)
    record = (await csms.rest.get("/api/v1/stations/CS-BOOT", headers=csms.headers())).json()
    assert (record["model"], record["vendor_name"], record["serial_number"]) == ("SimModel", "ChargeCA Sim", "SIM-0001")
    assert record["last_boot_at"] is not None


async def test_heartbeat_returns_the_current_time(station):
    answer = await _answer(station, "Heartbeat", {})
    assert abs(datetime.fromisoformat(answer["currentTime"]) - datetime.now(timezone.utc)) < timedelta(seconds=5)


async def test_security_events_are_stored_and_critical_ones_flagged(csms, station):
    await _answer(station, "SecurityEventNotification",
                  {"type": "TamperDetectionActivated", "timestamp": NOW, "techInfo": "lid opened"})
    assert await _answer(station, "SecurityEventNotification",
                         {"type": "com.vendor.Custom", "timestamp": NOW}) == {}
    events = (await csms.rest.get("/api/v1/security-events?station_id=CS-H", headers=csms.headers())).json()["events"]
    by_type = {e["type"]: e for e in events}
    assert by_type["TamperDetectionActivated"]["critical"] is True
    assert by_type["TamperDetectionActivated"]["tech_info"] == "lid opened"
    assert by_type["TamperDetectionActivated"]["source"] == "station"
    assert by_type["TamperDetectionActivated"]["occurred_at"].startswith("2025-06-01T12:00:00")
    assert by_type["com.vendor.Custom"]["critical"] is False


async def test_unknown_tokens_are_unknown(station):
    answer = await _answer(station, "Authorize", {"idToken": {"idToken": "04A1B2C3", "type": "ISO14443"}})
    assert answer == {"idTokenInfo": {"status": "Unknown"}}


async def test_no_authorization_token_is_accepted(station):
    answer = await _answer(station, "Authorize", {"idToken": {"idToken": "", "type": "NoAuthorization"}})
    assert answer["idTokenInfo"]["status"] == "Accepted"


async def test_transaction_event_answers_the_token_question_only_when_asked(station):
    started = {"eventType": "Started", "timestamp": NOW, "triggerReason": "Authorized", "seqNo": 0,
               "transactionInfo": {"transactionId": "tx-1"},
               "idToken": {"idToken": "04A1B2C3", "type": "ISO14443"}}
    assert await _answer(station, "TransactionEvent", started) == {"idTokenInfo": {"status": "Unknown"}}
    updated = {**started, "eventType": "Updated", "triggerReason": "MeterValuePeriodic", "seqNo": 1}
    del updated["idToken"]
    assert await _answer(station, "TransactionEvent", updated) == {}


async def test_data_transfer_has_no_vendor_extensions(station):
    answer = await _answer(station, "DataTransfer", {"vendorId": "com.example", "messageId": "x", "data": [1]})
    assert answer == {"status": "UnknownVendorId"}


@pytest.mark.parametrize("action, payload", [
    ("MeterValues", {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": 12.5}]}]}),
    ("FirmwareStatusNotification", {"status": "Downloading", "requestId": 3}),
    ("LogStatusNotification", {"status": "Uploading", "requestId": 4}),
    ("NotifyCustomerInformation", {"data": "none", "seqNo": 0, "generatedAt": NOW, "requestId": 5}),
    ("NotifyReport", {"requestId": 6, "generatedAt": NOW, "seqNo": 0}),
])
async def test_notifications_are_acknowledged(station, action, payload):
    assert await _answer(station, action, payload) == {}


async def test_connector_status_from_notify_event_shows_in_the_listing(csms, station):
    event = {"generatedAt": NOW, "seqNo": 0, "eventData": [{
        "eventId": 9, "timestamp": NOW, "trigger": "Delta", "actualValue": "Unavailable",
        "eventNotificationType": "HardWiredNotification",
        "component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
        "variable": {"name": "AvailabilityState"}}]}
    await _answer(station, "NotifyEvent", event)
    listing = (await csms.rest.get("/api/v1/connections", headers=csms.headers())).json()
    assert {"evse_id": 2, "connector_id": 1, "status": "Unavailable"} in listing[0]["connectors"]


def _profile3_station(csms, station_id: str, serial_number: str):
    csms.add_station(station_id, profile=3)
    station = csms.simulator(station_id, profile=3, serial_number=serial_number)
    issued = sign_csr(csms.ctx, Actor("cli:test"), station_id, station.make_csr())
    assert station.install_certificate(issued.chain_pem)
    return station, issued


async def test_profile3_boot_with_the_certificates_serial_is_accepted(tls_csms):
    station, issued = _profile3_station(tls_csms, "CS-TLS3", "CS-TLS3")
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"
    listing = (await tls_csms.rest.get("/api/v1/connections", headers=tls_csms.headers())).json()
    assert listing[0]["security_profile"] == 3 and listing[0]["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert listing[0]["client_certificate_serial"] == issued.record.serial_hex


# 25 characters of four bytes each: the close reason naming it was cut to 120 characters, some
# 200 bytes; a close frame carries 123 of reason, so closing raised and the connection stayed open.
@pytest.mark.parametrize("serial_number", ["SOMEONE-ELSE", "\U0001F600" * 25], ids=["ascii", "4-byte"])
async def test_profile3_boot_with_another_serial_is_disconnected_and_recorded(tls_csms, serial_number, caplog):
    # B01.FR.11/12: the serial number in BootNotification must be the certificate's CN.
    station, _ = _profile3_station(tls_csms, "CS-TLS3X", serial_number)
    await station.connect()
    with pytest.raises((ConnectionError, CallError, TimeoutError)):
        await station.boot()
    code, reason = await station.wait_closed()
    assert code == 1008 and reason.startswith("BootNotification serialNumber")
    # The answer never sent is no invalid response of ours (an ERROR at each such boot).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    events = (await tls_csms.rest.get("/api/v1/security-events?station_id=CS-TLS3X",
                                      headers=tls_csms.headers())).json()["events"]
    assert [e["type"] for e in events] == [SERIAL_MISMATCH_EVENT]
    assert events[0]["source"] == "csms" and events[0]["critical"] is True
    assert tls_csms.station_row("CS-TLS3X").last_boot_at is None


def test_the_boot_record_on_each_database(db_url):
    # The statement is hand-built (CASE, IS DISTINCT FROM, RETURNING): both dialects must run it.
    migrate_for_test(db_url)
    engine = make_engine(db_url)
    info = {"model": "M", "vendorName": "V", "serialNumber": "SN-1", "firmwareVersion": "1.0"}
    with session_scope(engine) as session:
        session.add(Station(id="CS-DB", max_chain_size=800, additional_root_check=True, certificate_capacity=10))
        session.add(Station(id="CS-PENDING", boot_policy="Pending", max_chain_size=800))
    off, on = OnboardingPolicy(), OnboardingPolicy(enabled=True)
    with session_scope(engine) as session:
        assert _record_boot(session, "CS-DB", info, "PowerUp", "Accepted", off) == ("Accepted", (None, None))
        assert _record_boot(session, "CS-PENDING", info, "PowerUp", "Accepted", off)[0] == "Pending"
        assert _record_boot(session, "CS-GONE", info, "PowerUp", "Accepted", off)[0] == "Rejected"
    with session_scope(engine) as session:
        booted, pending = session.get(Station, "CS-DB"), session.get(Station, "CS-PENDING")
        assert (booted.model, booted.vendor_name, booted.serial_number, booted.firmware_version) == ("M", "V", "SN-1", "1.0")
        assert booted.last_boot_at is not None and pending.last_boot_at is None
        # First boot on record: the firmware changed from unknown, so what it reported is asked again.
        assert [getattr(booted, name) for name in DEVICE_MODEL_COLUMNS] == [None, None, None]
        booted.max_chain_size, booted.additional_root_check, booted.certificate_capacity = 800, True, 10
    with session_scope(engine) as session:
        _record_boot(session, "CS-DB", info, "PowerUp", "Accepted", off)  # same firmware: kept
    with session_scope(engine) as session:
        assert [getattr(session.get(Station, "CS-DB"), name) for name in DEVICE_MODEL_COLUMNS] == [800, True, 10]
        # The HeartbeatInterval limits it reported come back with the status (block B).
        store_entries(session, "CS-DB", [{"component": {"name": "OCPPCommCtrlr"},
                                          "variable": {"name": "HeartbeatInterval"},
                                          "variableCharacteristics": {"dataType": "integer", "minLimit": 1,
                                                                      "maxLimit": 10, "supportsMonitoring": False}}],
                      None, DeviceModelPolicy())
    with session_scope(engine) as session:
        assert _record_boot(session, "CS-DB", info, "PowerUp", "Accepted", off) == ("Accepted", (1, 10))
        # Onboarding on: held Pending, not "accepted before" (a reconnect must boot again).
        assert _record_boot(session, "CS-DB", info, "PowerUp", "Accepted", on)[0] == "Pending"
    with session_scope(engine) as session:
        assert session.get(Station, "CS-DB").last_boot_at is None
        assert session.get(StationOnboarding, "CS-DB").state == "pending"
        session.add(StationReset(station_id="CS-DB", type="OnIdle", status="Scheduled", requested_by="t"))
    with session_scope(engine) as session:
        _record_boot(session, "CS-DB", info, "Triggered", "Accepted", off)   # no reboot
    with session_scope(engine) as session:
        assert session.exec(select(StationReset)).one().status == "Scheduled"
        _record_boot(session, "CS-DB", info, "ScheduledReset", "Accepted", off)
    with session_scope(engine) as session:
        reset = session.exec(select(StationReset)).one()
        assert (reset.status, reset.boot_reason) == ("rebooted", "ScheduledReset")
    engine.dispose()
