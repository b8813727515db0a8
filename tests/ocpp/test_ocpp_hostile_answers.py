"""A station's answers to every call the CSMS sends, with hostile values at every field, over a
real WebSocket on SQLite and PostgreSQL (tests/support/ocpp_probes.py): each call is sent by an
operator (``POST /api/v1/stations/{id}/calls``, sync), the station answers it with one hostile
value, and the operator gets the call's outcome, never a 500 nor a wait for an answer that came.
What the CSMS keeps of answers (inventories, device model, reports) must not fail on them."""

from __future__ import annotations

import itertools
import json

import pytest
from ocpp_probes import RESPONSE, example, probes
from ocpp_support import WholeFrame, open_csms
from pki_fixtures import make_root
from trust_anchor_support import pem

from api.core.audit import run_in_session
from api.csms.reservations import service as reservations
from api.csms.routes import COMMANDS

pytestmark = pytest.mark.slow

STATION = "CS-ANSWERS"
_request_ids = itertools.count(1)

# What a generated request needs to pass the operator's rules.
ADJUSTED = {
    "ReserveNow": lambda payload: {**payload, "expiryDateTime": "2100-01-01T00:00:00Z"},
    "RequestStartTransaction": lambda payload: {key: value for key, value in payload.items()
                                                if key != "chargingProfile"},
    "CustomerInformation": lambda payload: {**{key: value for key, value in payload.items()
                                               if key not in ("idToken", "customerCertificate")}, "report": True},
    # A manufacturer's root, through the trust-anchor workflow that InstallCertificate runs.
    "InstallCertificate": lambda payload: {"certificateType": "ManufacturerRootCertificate",
                                           "certificate": pem(make_root("ec").certificate)},
    "GetLog": lambda payload: {**payload, "log": {**payload["log"], "remoteLocation": "https://logs.example.com/up"}},
    "SetNetworkProfile": lambda payload: {**payload, "connectionData": {**payload["connectionData"],
                                                                        "ocppCsmsUrl": "ws://csms.example/ocpp"}},
    "SetDisplayMessage": lambda payload: {**payload, "message": {
        **payload["message"], "startDateTime": "2099-01-01T00:00:00Z", "endDateTime": "2100-01-01T00:00:00Z"}},
    # A default profile a station can apply: the example's purpose comes from the station itself,
    # its validity has passed, its only period does not start at 0.
    "SetChargingProfile": lambda payload: {**payload, "chargingProfile": {
        **{key: value for key, value in payload["chargingProfile"].items()
           if key not in ("transactionId", "recurrencyKind")},
        "chargingProfilePurpose": "TxDefaultProfile", "validFrom": "2099-01-01T00:00:00Z",
        "validTo": "2100-01-01T00:00:00Z", "chargingSchedule": [{
            **schedule, "chargingSchedulePeriod": [{**period, "startPeriod": 0}
                                                   for period in schedule["chargingSchedulePeriod"]]}
            for schedule in payload["chargingProfile"]["chargingSchedule"]]}},
}
# Needing what only a workflow has: a chain we issued for the station, a certificate in its
# reported inventory, a registered firmware image. Their answers are read by the same commands
# (api/csms/routes.py ANSWERS) in their own tests.
NOT_SENT_RAW = {"CertificateSigned", "DeleteCertificate", "UpdateFirmware"}


@pytest.fixture
async def csms(pki):
    async for made in open_csms(pki):
        yield made


@pytest.fixture
async def station(csms):
    raw = await csms.connect_raw(STATION, csms.add_station(STATION))
    await raw.boot()
    # The transaction the generated RequestStopTransaction names (its transactionId is "x").
    started = await raw.call("TransactionEvent", {
        "eventType": "Started", "timestamp": "2025-06-01T12:00:00Z", "triggerReason": "Authorized", "seqNo": 0,
        "transactionInfo": {"transactionId": example("RequestStopTransaction")["transactionId"]}})
    assert started[0] == 3, started
    # The reservation the generated CancelReservation names: one we made.
    reserved = {**example("ReserveNow"), "id": example("CancelReservation")["reservationId"],
                "expiryDateTime": "2100-01-01T00:00:00Z"}
    run_in_session(csms.ctx, lambda session: reservations.requested(session, STATION, "test", reserved))
    return raw


async def _send(csms, action: str) -> tuple[int, dict]:
    payload = ADJUSTED.get(action, lambda same: same)(example(action))
    for key in ("requestId", "remoteStartId"):   # each request needs its own
        if key in payload:
            payload[key] = next(_request_ids)
    answer = await csms.rest.post(f"/api/v1/stations/{STATION}/calls", headers=csms.headers("officer"),
                                  json={"action": action, "payload": payload, "timeout": 3})
    return answer.status_code, answer.json()


@pytest.mark.parametrize("action", sorted(set(COMMANDS) - NOT_SENT_RAW))
async def test_every_field_of_an_answer_with_hostile_values_gives_the_operator_an_outcome(csms, station, action):
    station.answers[action] = lambda _payload: json.dumps(example(action, RESPONSE))
    status, body = await _send(csms, action)
    assert status == 200 and body["status"] == "answered", body
    wrong: list[str] = []
    for name, payload in probes(action, RESPONSE):
        station.answers[action] = lambda _payload, payload=payload: payload
        status, body = await _send(csms, action)
        if status != 200 or body.get("status") not in ("answered", "error"):
            wrong.append(f"{name}: {status} {body}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("frame", [
    '[4,MESSAGE_ID,"Teapot","an error code OCPP-J does not define",{}]',
    '[4,MESSAGE_ID,"GenericError","a NUL \\u0000 in the description",{}]',
    '[4,MESSAGE_ID,"GenericError","a lone surrogate \\ud800",{}]',
    '[4,MESSAGE_ID,"GenericError","' + "\U0001F50C" * 4000 + '",{}]',
    '[4,MESSAGE_ID,"GenericError","details not an object","details"]',
    '[4,MESSAGE_ID,"GenericError","details nested deep",' + '{"a":' * 200 + '1' + '}' * 200 + ']',
    '[4,MESSAGE_ID,"GenericError"]',
    '[3,MESSAGE_ID]',
    '[3,MESSAGE_ID,{"status":"Accepted"},"one element too many"]',
])
async def test_a_broken_error_or_result_frame_gives_the_operator_an_error_outcome(csms, station, frame):
    """P4 §4.2: a CALLERROR's code is one of the list, its description at most 255 characters,
    its details an object. Whatever a station sends in their place ends the call as an error, at
    once: the operator does not wait out the timeout for an answer that came."""
    station.answers["ClearCache"] = lambda _payload: WholeFrame(frame)
    status, body = await _send(csms, "ClearCache")
    assert status == 200 and body["status"] == "error", body
    station.answers["ClearCache"] = lambda _payload: {"status": "Accepted"}
    status, body = await _send(csms, "ClearCache")
    assert status == 200 and body["status"] == "answered", body


@pytest.mark.parametrize("action", sorted(set(COMMANDS) - NOT_SENT_RAW))
async def test_every_field_of_an_operators_call_with_hostile_values_is_sent_or_refused_by_name(csms, station, action):
    """The other way: what an operator types into a raw call, each field hostile in turn. The
    call is sent (the station answers) or refused with 422 naming the field or the rule, never
    a 500: the rules that read a call's fields (dates, ids, profiles) meet these values first."""
    station.answers[action] = lambda _payload: json.dumps(example(action, RESPONSE))
    wrong: list[str] = []
    for name, text in probes(action, base=ADJUSTED.get(action, lambda same: same)(example(action))):
        payload = json.loads(text)
        for key in ("requestId", "remoteStartId"):
            if key in payload and not name.startswith(f"{key}:"):
                payload[key] = next(_request_ids)
        # As JSON text with escapes: a lone surrogate goes as the escape an HTTP client would send.
        answer = await csms.rest.post(f"/api/v1/stations/{STATION}/calls",
                                      headers={**csms.headers("officer"), "Content-Type": "application/json"},
                                      content=json.dumps({"action": action, "payload": payload, "timeout": 3}))
        body = answer.json()
        if answer.status_code == 422 and (body.get("field") or body.get("rule")):
            continue
        if answer.status_code == 413 and "error" in body:   # the longest certificate, escaped: over 64 KiB
            continue
        if answer.status_code != 200 or body.get("status") not in ("answered", "error"):
            wrong.append(f"{name}: {answer.status_code} {body}")
    assert not wrong, "\n".join(wrong)
