"""Hostile but schema-valid input over a real WebSocket, on SQLite and PostgreSQL: each frame gets
the CALLERROR OCPP-J names (or is stored safely), never an InternalError, never a dropped
connection. After each one the same connection still answers a Heartbeat."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from fake_connection import rows
from ocpp_support import BOOT, open_csms
from sqlmodel import select

from api.core.audit import run_in_session
from api.csms.availability import service as availability
from api.csms.monitoring import service as monitoring
from storage.meter_values import MeterReading
from storage.security_events import SecurityEvent
from storage.transactions import Transaction

NOW = "2025-06-01T12:00:00Z"
LONE_SURROGATE = "\\ud800"  # as it appears in the JSON text: an escape no Unicode character has


@pytest.fixture
async def csms(pki) -> AsyncIterator:
    async for made in open_csms(pki):
        yield made


@pytest.fixture
async def station(csms):
    password = csms.add_station("CS-HOSTILE")
    raw = await csms.connect_raw("CS-HOSTILE", password)
    await raw.boot()
    return raw


async def _still_usable(station) -> None:
    frame = await station.call("Heartbeat", {})
    assert frame[0] == 3 and "currentTime" in frame[2], frame


def _call(message_id: str, action: str, payload: dict, *, raw: tuple[str, str] | None = None) -> str:
    """A CALL frame; ``raw`` replaces a placeholder string by text that json.dumps would not write."""
    text = json.dumps([2, message_id, action, payload])
    if raw is not None:
        placeholder, replacement = raw
        text = text.replace(json.dumps(placeholder), replacement)
    return text


def _events(csms, station_id: str) -> list[SecurityEvent]:
    return run_in_session(csms.ctx, lambda s: list(s.exec(
        select(SecurityEvent).where(SecurityEvent.station_id == station_id).order_by(SecurityEvent.id))))


async def test_a_lone_surrogate_in_boot_notification_is_a_format_violation(station):
    boot = json.loads(json.dumps(BOOT))
    boot["chargingStation"]["model"] = "PLACEHOLDER"
    frame = await station.send_raw(_call("boot-1", "BootNotification", boot,
                                         raw=("PLACEHOLDER", f'"Sim{LONE_SURROGATE}Model"')))
    assert frame[:3] == [4, "boot-1", "FormatViolation"], frame
    assert "surrogate" in frame[3] and frame[4]["field"] == "chargingStation.model"
    await _still_usable(station)


async def test_a_lone_surrogate_in_a_security_event_is_a_format_violation(csms, station):
    payload = {"type": "TamperDetectionActivated", "timestamp": NOW, "techInfo": "PLACEHOLDER"}
    frame = await station.send_raw(_call("sec-1", "SecurityEventNotification", payload,
                                         raw=("PLACEHOLDER", f'"lid {LONE_SURROGATE} opened"')))
    assert frame[:3] == [4, "sec-1", "FormatViolation"], frame
    assert frame[4]["field"] == "techInfo"
    await _still_usable(station)
    # A paired escape is an ordinary character (U+1F600) and is stored as such.
    frame = await station.send_raw(_call("sec-2", "SecurityEventNotification", payload,
                                         raw=("PLACEHOLDER", '"smile \\ud83d\\ude00"')))
    assert frame == [3, "sec-2", {}], frame
    assert [e.tech_info for e in _events(csms, "CS-HOSTILE")] == ["smile \U0001F600"]


async def test_a_timestamp_that_overflows_is_a_property_constraint_violation(csms, station):
    for message_id, timestamp in (("ts-1", "9999-12-31T23:59:59-23:59"), ("ts-2", "0001-01-01T00:00:00+23:59")):
        frame = await station.call("SecurityEventNotification",
                                   {"type": "TamperDetectionActivated", "timestamp": timestamp})
        assert frame[0] == 4 and frame[2] == "PropertyConstraintViolation", frame
        assert frame[4]["field"] == "timestamp" and "out of range" in frame[3]
        await _still_usable(station)
    assert _events(csms, "CS-HOSTILE") == []


async def test_a_nul_in_tech_info_is_stored_safely(csms, station):
    frame = await station.call("SecurityEventNotification",
                               {"type": "TamperDetectionActivated", "timestamp": NOW, "techInfo": "lid\u0000opened"})
    assert frame[0] == 3, frame
    (event,) = _events(csms, "CS-HOSTILE")
    assert event.tech_info == "lid\ufffdopened"  # U+FFFD: PostgreSQL text cannot hold U+0000
    await _still_usable(station)


@pytest.mark.parametrize("text", [
    "[" * 10_000 + "]" * 10_000,
    '[2,"deep-1","DataTransfer",{"vendorId":"v","data":' + "[" * 10_000 + "]" * 10_000 + "}]",
])
async def test_a_frame_nested_too_deeply_is_an_rpc_framework_error(station, text):
    assert len(text) >= 10_000
    frame = await station.send_raw(text)
    assert frame[:3] == [4, "-1", "RpcFrameworkError"], frame
    assert "nested" in frame[3]
    await _still_usable(station)


async def test_an_integer_over_pythons_digit_limit_is_an_rpc_framework_error(station):
    # Python refuses to read an integer of more than 4,300 digits: that refusal is a CALLERROR too,
    # whichever codec reads the frame (it used to escape the parser as an AttributeError).
    frame = await station.send_raw('[2,"big-1","DataTransfer",{"vendorId":"v","data":' + "7" * 5000 + "}]")
    assert frame[:3] == [4, "-1", "RpcFrameworkError"], frame
    assert "not valid JSON" in frame[3]
    await _still_usable(station)


@pytest.mark.parametrize("sampled, raw", [
    # JSON allows an integer of 400 digits: a number past a double's range.
    ({"value": "PLACEHOLDER"}, "7" * 400),
    # An import register whose Wh past a double: 1 × 10^400, and 1 × 10^10,000,000 (this one
    # held the event loop 7 s, every station of the process waiting; 10^(2^31-1) held it for good).
    ({"value": 1, "unitOfMeasure": {"unit": "Wh", "multiplier": 400}}, None),
    ({"value": 1, "unitOfMeasure": {"unit": "Wh", "multiplier": 10_000_000}}, None),
    ({"value": 1e308, "unitOfMeasure": {"unit": "kWh"}}, None),   # 1e311 Wh: its energy was NaN
], ids=["400 digits", "10^400 Wh", "10^10000000 Wh", "1e308 kWh"])
@pytest.mark.parametrize("action", ["MeterValues", "TransactionEvent"])
async def test_a_meter_value_past_a_double_is_a_property_constraint_violation(csms, station, action, sampled, raw):
    meter_value = [{"timestamp": NOW, "sampledValue": [{"value": 5}, sampled]}]
    payload = {"evseId": 1, "meterValue": meter_value} if action == "MeterValues" else {
        "eventType": "Started", "timestamp": NOW, "triggerReason": "CablePluggedIn", "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-past-a-double"}, "meterValue": meter_value}
    frame = await station.send_raw(_call("mv-1", action, payload, raw=("PLACEHOLDER", raw) if raw else None))
    assert frame[:3] == [4, "mv-1", "PropertyConstraintViolation"], frame
    assert frame[4] == {"field": "meterValue[0].sampledValue[1].value"} and "finite" in frame[3]
    await _still_usable(station)
    await csms.settled()
    assert rows(csms.ctx, MeterReading) == [] and rows(csms.ctx, Transaction) == []


async def test_an_availability_state_longer_than_any_status_is_kept_on_either_database(csms, station):
    """NotifyEvent's actualValue may be 2500 characters; a connector's status column holds a
    ConnectorStatusEnumType. On PostgreSQL the longer value was a GenericError after the
    event itself was kept, so the station sent it again and it was kept twice."""
    value = "\U0001F50C" * 2500
    event = {"generatedAt": NOW, "seqNo": 0, "eventData": [{
        "eventId": 1, "timestamp": NOW, "trigger": "Delta", "actualValue": value,
        "eventNotificationType": "HardWiredNotification",
        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
        "variable": {"name": "AvailabilityState"}}]}
    assert (await station.call("NotifyEvent", event))[0] == 3
    (state,) = run_in_session(csms.ctx, lambda s: availability.current(s, "CS-HOSTILE"))
    assert (state.evse_id, state.connector_id, state.status) == (1, 1, value[:32])
    (reported,) = run_in_session(csms.ctx, lambda s: availability.history(s, "CS-HOSTILE", evse_id=1, limit=5,
                                                                          before_id=None))
    assert reported.value == value[:110]
    # The event itself, whole, once.
    (kept,) = run_in_session(csms.ctx, lambda s: monitoring.events(s, "CS-HOSTILE", monitoring.EventFilter()))
    assert kept.actual_value == value
    await _still_usable(station)


async def test_broken_frames_sent_again_and_again_are_logged_at_powers_of_two(station, caplog):
    """A line per broken frame was a line per frame the station chose to send."""
    with caplog.at_level(logging.INFO, logger="chargeca.ocpp"):
        for n in range(20):
            frame = await station.send_raw(f'[2,"bad-{n}","Heartbeat"]')
            assert frame[0] == 4 and frame[1] == f"bad-{n}", frame
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("broken frame from CS-HOSTILE")]
    assert len(lines) == 5, lines   # the 1st, 2nd, 4th, 8th and 16th
    assert "times within" not in lines[0]
    assert lines[-1].endswith("(16 times within 10 minutes)")
    await _still_usable(station)
