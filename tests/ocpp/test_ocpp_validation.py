"""Schema validation in both directions, with the CALLERROR code the failing keyword maps to."""

from __future__ import annotations

import copy
import time

import pytest
from ocpp_support import BOOT, STATUS, csms  # noqa: F401 - fixture

from api.ocpp.validation import schemas

CUSTOM = {"vendorId": "com.example", "anything": [1, 2, {"deep": True}]}


def _boot(**station_fields):
    payload = copy.deepcopy(BOOT)
    payload["chargingStation"].update(station_fields)
    return payload


@pytest.fixture
async def station(csms):
    password = csms.add_station("CS-SCHEMA")
    return await csms.connect_raw("CS-SCHEMA", password)


@pytest.mark.parametrize("payload, code, field", [
    ({"reason": "PowerUp"}, "OccurrenceConstraintViolation", "chargingStation"),
    ({"reason": 7, "chargingStation": BOOT["chargingStation"]}, "TypeConstraintViolation", "reason"),
    (_boot(model="M" * 21), "PropertyConstraintViolation", "chargingStation.model"),
    ({"reason": "Bored", "chargingStation": BOOT["chargingStation"]}, "PropertyConstraintViolation", "reason"),
    (_boot(colour="red"), "FormatViolation", "chargingStation"),
])
async def test_station_payload_violations_get_the_mapped_code(station, payload, code, field):
    frame = await station.call("BootNotification", payload)
    assert frame[0] == 4 and frame[2] == code
    assert frame[4]["field"] == field
    assert field in frame[3]


async def test_bad_timestamp_format_is_a_property_violation(station):
    await station.boot()
    frame = await station.call("StatusNotification", {**STATUS, "timestamp": "yesterday"})
    assert frame[2] == "PropertyConstraintViolation" and frame[4]["field"] == "timestamp"


async def test_empty_list_where_one_entry_is_required_is_an_occurrence_violation(station):
    await station.boot()
    frame = await station.call("NotifyEvent", {"generatedAt": "2025-01-01T00:00:00Z", "seqNo": 0, "eventData": []})
    assert frame[2] == "OccurrenceConstraintViolation" and frame[4]["field"] == "eventData"


async def test_custom_data_is_accepted_anywhere(station):
    # TC_P_03: customData may carry any vendor properties, at any level.
    payload = _boot(customData=CUSTOM)
    payload["customData"] = CUSTOM
    frame = await station.call("BootNotification", payload)
    assert frame[0] == 3 and frame[2]["status"] == "Accepted"


async def test_operator_payload_that_breaks_the_schema_is_refused_and_not_sent(csms, station):
    await station.boot()
    answer = await csms.post_call("CS-SCHEMA", "TriggerMessage", {"requestedMessage": "Coffee"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["field"] == "payload.requestedMessage"
    assert body["ocpp_error_code"] == "PropertyConstraintViolation"
    assert station.received.empty()


async def test_station_answer_that_breaks_the_schema_is_an_error_outcome(csms, station):
    await station.boot()
    station.answers["TriggerMessage"] = lambda payload: {"status": "Maybe"}
    answer = await csms.post_call("CS-SCHEMA", "TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "error" and body["error_code"] == "PropertyConstraintViolation"
    assert "status" in body["description"]


def test_every_ocpp_action_has_compiled_request_and_response_validators():
    compiled = schemas()
    assert compiled.report.validators == 128
    assert "BootNotification" in compiled.actions and "SignCertificate" in compiled.actions


def test_validation_costs_microseconds_on_the_calling_thread():
    compiled = schemas()
    payload = {"eventType": "Updated", "timestamp": "2025-01-01T00:00:00Z", "triggerReason": "MeterValuePeriodic",
               "seqNo": 3, "transactionInfo": {"transactionId": "tx-1"},
               "meterValue": [{"timestamp": "2025-01-01T00:00:00Z",
                               "sampledValue": [{"value": 1.5, "measurand": "Energy.Active.Import.Register"}]}]}
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        compiled.validate_request("TransactionEvent", payload)
    per_message = (time.perf_counter() - started) / rounds
    # Generous bound for slow CI machines; typically ~10 µs for this payload.
    assert per_message < 200e-6
