"""The message log without sockets: what redaction takes out, the recorder's bounds (queue,
per-station allowance, frame size) and failures, and retention on real databases."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
from datetime import timedelta
from pathlib import Path

import ocpp.v201
import pytest
from prometheus_client import generate_latest
from sqlmodel import select

from api.ocpp import framing
from api.ocpp.framing import Call, CallResult, ErrorCode, FrameError
from api.ocpp.message_log.recorder import MessageLog
from api.ocpp.message_log.rows import MALFORMED_KEEP_BYTES
from api.ocpp.message_log.redaction import _TRIGGERS, PLAIN_ANSWERS, REDACTED, Redactor
from api.ocpp.message_log.retention import prune_message_log
from api.ocpp.metrics import EVENTS
from policies.loader import PolicyError, default_policy_data, parse_policy
from policies.model import MessageLogPolicy
from storage.db import session_scope
from storage.message_log import (
    COLUMNS,
    MessageQuery,
    OcppMessage,
    OcppMessageBatch,
    frames,
    insert_rows,
    message_log_engine,
    prune,
)
from storage.types import utcnow

KEY = b"k" * 32


def _text(frame: list) -> str:
    return json.dumps(frame, separators=(",", ":"))


def _redacted(frame: list, action: str | None = None, key: bytes = KEY) -> list:
    return json.loads(Redactor(key).frame_text(_text(frame), action or (frame[2] if frame[0] == 2 else None)))


# --- redaction ---------------------------------------------------------------------------------

def test_a_basic_auth_password_set_through_set_variables_never_reaches_the_log():
    frame = [2, "1", "SetVariables", {"setVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
         "attributeValue": "s3cret-password-0123456789"},
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "60"}]}]
    data = _redacted(frame)[3]["setVariableData"]
    assert data[0]["attributeValue"] == REDACTED and data[0]["variable"] == {"name": "BasicAuthPassword"}
    assert data[1]["attributeValue"] == "60"


def test_network_profile_credentials_are_redacted_wherever_they_sit():
    frame = [2, "2", "SetNetworkProfile", {"configurationSlot": 1, "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms.example/ocpp",
        "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wireless0",
        "vpn": {"server": "vpn.example", "user": "u", "password": "vpn-secret", "key": "psk-secret", "type": "IPSec"},
        "apn": {"apn": "internet", "apnPassword": "apn-secret", "simPin": 1234, "apnAuthentication": "AUTO"}}}]
    text = Redactor(KEY).frame_text(_text(frame), "SetNetworkProfile")
    for secret in ("vpn-secret", "psk-secret", "apn-secret", "1234"):
        assert secret not in text
    data = json.loads(text)[3]["connectionData"]
    assert data["vpn"]["user"] == "u" and data["apn"]["apn"] == "internet"
    assert data["ocppCsmsUrl"] == "wss://csms.example/ocpp"


def test_a_password_variable_reported_back_is_redacted_too():
    report = [2, "3", "NotifyReport", {"requestId": 1, "generatedAt": "2025-01-01T00:00:00Z", "seqNo": 0,
                                       "reportData": [{"component": {"name": "SecurityCtrlr"},
                                                       "variable": {"name": "BasicAuthPassword"},
                                                       "variableAttribute": [{"value": "leaked"}]}]}]
    get = [3, "4", {"getVariableResult": [{"attributeStatus": "Accepted", "component": {"name": "VendorCtrlr"},
                                           "variable": {"name": "ModemPassword"}, "attributeValue": "leaked"}]}]
    assert "leaked" not in Redactor(KEY).frame_text(_text(report), "NotifyReport")
    assert "leaked" not in Redactor(KEY).frame_text(_text(get), "GetVariables")


def test_id_tokens_become_pseudonyms_stable_within_a_key_and_unlinkable_across_keys():
    authorize = [2, "5", "Authorize", {"idToken": {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443",
                                                   "additionalInfo": [{"additionalIdToken": "EMAID-1", "type": "x"}]}}]
    first, again = _redacted(authorize)[3]["idToken"], _redacted(authorize)[3]["idToken"]
    other_key = _redacted(authorize, key=b"o" * 32)[3]["idToken"]
    assert first["idToken"].startswith("pseudonym:") and first["type"] == "ISO14443"
    assert first == again and other_key["idToken"] != first["idToken"]
    assert first["additionalInfo"][0]["additionalIdToken"].startswith("pseudonym:")
    answer = [3, "5", {"idTokenInfo": {"status": "Accepted", "groupIdToken": {"idToken": "GROUP-1", "type": "Central"},
                                       "personalMessage": {"format": "UTF8", "content": "Hello Ada"}}}]
    info = _redacted(answer, "Authorize")[2]["idTokenInfo"]
    assert info["groupIdToken"]["idToken"].startswith("pseudonym:") and info["personalMessage"]["content"] == REDACTED


def test_customer_data_and_15118_key_material_are_redacted_certificates_are_not():
    notify = [2, "6", "NotifyCustomerInformation", {"data": "name=Ada Lovelace", "seqNo": 0,
                                                    "generatedAt": "2025-01-01T00:00:00Z", "requestId": 1}]
    assert _redacted(notify)[3]["data"] == REDACTED
    request = [2, "7", "CustomerInformation", {"requestId": 1, "report": True, "clear": False,
                                               "customerIdentifier": "customer-42"}]
    assert _redacted(request)[3]["customerIdentifier"].startswith("pseudonym:")
    ev = [3, "8", {"status": "Accepted", "exiResponse": "BASE64EXI"}]
    assert _redacted(ev, "Get15118EVCertificate")[2]["exiResponse"] == REDACTED
    chain = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    signed = [2, "9", "CertificateSigned", {"certificateChain": chain}]
    assert Redactor(KEY).frame_text(_text(signed), "CertificateSigned") == _text(signed)


def test_one_time_file_credentials_in_upload_and_download_locations_are_redacted():
    """GetLog's and UpdateFirmware's URLs carry a station's one-time credential: kept in the log,
    its readers (auditors too) could download the image, or upload a log before the station did."""
    get_log = [2, "11", "GetLog", {"logType": "DiagnosticsLog", "requestId": 1,
                                   "log": {"remoteLocation": "ftp://Gr4nt:0neT1meSecret@files.example:2121/"}}]
    update = [2, "12", "UpdateFirmware", {"requestId": 2, "firmware": {
        "location": "https://files.example:9444/files/Gr4nt/0neT1meSecret/image%201.bin",
        "retrieveDateTime": "2025-01-01T00:00:00Z"}}]
    for frame in (get_log, update):
        text = Redactor(KEY).frame_text(_text(frame), frame[2])
        assert "0neT1meSecret" not in text and "Gr4nt" in text and "files.example" in text, text
    assert _redacted(get_log)[3]["log"]["remoteLocation"] == f"ftp://Gr4nt:{REDACTED}@files.example:2121/"
    assert _redacted(update)[3]["firmware"]["location"].endswith(f"/files/Gr4nt/{REDACTED}/image%201.bin")
    sampled = [2, "13", "MeterValues", {"evseId": 1, "meterValue": [{"timestamp": "2025-01-01T00:00:00Z",
                                                                     "sampledValue": [{"value": 1, "location": "Outlet"}]}]}]
    assert Redactor(KEY).frame_text(_text(sampled), "MeterValues") == _text(sampled)


def test_a_frame_with_nothing_to_redact_is_kept_byte_for_byte():
    text = '[2, "10", "Heartbeat", {}]'  # spaces and all: not re-serialised
    assert Redactor(KEY).frame_text(text, "Heartbeat") is text
    assert Redactor(KEY).frame_text("not json, idToken", None) == "not json, idToken"


@pytest.mark.parametrize("action", sorted(PLAIN_ANSWERS))
def test_answers_logged_unscanned_have_no_field_redaction_would_touch(action):
    # The writer skips the scan for ChargeCA's own answers to these CALLs: sound only while their
    # response schemas hold none of the fields the redaction looks for, however nested.
    schema = json.loads((Path(ocpp.v201.__file__).parent / "schemas" / f"{action}Response.json").read_text())
    names = set()
    stack: list = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    touched = {name for name in names if any(trigger.strip('"') in name for trigger in _TRIGGERS)}
    assert not touched and not names & {"data", "variable", "attributeValue", "actualValue", "content"}, touched


# --- the recorder ------------------------------------------------------------------------------

def _policy(**overrides) -> MessageLogPolicy:
    return MessageLogPolicy(**overrides)


class Sink:
    """What the writer hands the database, held until ``open`` is set."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.open = asyncio.Event()
        self.open.set()
        self.fail = False

    async def __call__(self, rows):
        await self.open.wait()
        if self.fail:
            raise RuntimeError("database away")
        self.rows.extend(_named(row) for row in rows)


def _named(row: tuple) -> dict:
    return dict(zip(COLUMNS, row, strict=True))


def _heartbeat(log: MessageLog, station: str = "CS-1", n: int = 1) -> None:
    for i in range(n):
        call = Call(f"m{i}", "Heartbeat", {})
        log.received(station, framing.serialize(call), call, None)


def _dropped(reason: str) -> float:
    for line in generate_latest(EVENTS).decode().splitlines():
        if line.startswith(f'chargeca_message_log_dropped_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_when_the_writer_falls_behind_frames_are_dropped_and_counted_never_waited_for():
    sink = Sink()
    sink.open.clear()  # the database is slow: the first batch hangs
    log = MessageLog(_policy(max_queued_frames=10), sink, flush_interval=0.01)
    before = _dropped("queue_full")
    _heartbeat(log, n=10)
    await asyncio.sleep(0.05)  # the writer took those 10 and waits on the database
    _heartbeat(log, n=25)      # 10 fit in the queue again, 15 do not
    assert log.queued == 10 and log.dropped["queue_full"] == 15
    assert _dropped("queue_full") - before == 15
    sink.open.set()
    await log.flush()
    assert len(sink.rows) == 20 and log.written == 20 and log.queued == 0


async def test_a_full_batch_is_written_without_waiting_for_the_interval():
    sink = Sink()
    log = MessageLog(_policy(), sink, flush_interval=60, flush_rows=3)
    _heartbeat(log, n=2)
    await asyncio.sleep(0.1)
    assert sink.rows == []  # two frames wait for the interval
    _heartbeat(log, n=1)
    async with asyncio.timeout(5):
        while len(sink.rows) < 3:
            await asyncio.sleep(0.01)
    await log.flush()


async def test_a_station_has_a_daily_allowance_and_broken_frames_a_smaller_one_of_their_own():
    sink = Sink()
    log = MessageLog(_policy(max_frames_per_station_per_day=3, max_malformed_per_station_per_day=1), sink,
                     flush_interval=0.01)
    _heartbeat(log, "CS-A", n=5)
    _heartbeat(log, "CS-B", n=2)
    broken = FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "frame is not valid JSON")
    log.received("CS-A", "{{{", broken, None)
    log.received("CS-A", "}}}", broken, None)
    await log.flush()
    kept = [(row["station_id"], row["kind"]) for row in sink.rows]
    assert kept.count(("CS-A", "CALL")) == 3 and kept.count(("CS-B", "CALL")) == 2
    assert kept.count(("CS-A", "MALFORMED")) == 1
    assert log.dropped["station_quota"] == 3


async def test_a_failed_write_drops_its_batch_counts_it_and_the_log_goes_on():
    sink = Sink()
    sink.fail = True
    log = MessageLog(_policy(), sink, flush_interval=0.01)
    _heartbeat(log, n=4)
    await log.flush()
    assert log.dropped["write_failed"] == 4 and sink.rows == []
    sink.fail = False
    _heartbeat(log, n=2)
    await log.flush()
    assert len(sink.rows) == 2


def test_rows_are_cut_to_the_policy_size_and_broken_frames_to_their_allowance():
    log = MessageLog(_policy(max_frame_bytes=100), Sink(), key=KEY)
    long_call = Call("1", "DataTransfer", {"vendorId": "v", "data": "é" * 200})
    text = framing.serialize(long_call)
    broken = "\x00" + "x" * 5000
    rows = [_named(row) for row in log.rows([("CS", "in", "CALL", "1", "DataTransfer", 0.0, text),
                                             ("CS", "in", "MALFORMED", None, None, 0.0, broken.encode())])]
    assert rows[0]["truncated"] and len(rows[0]["frame"].encode()) <= 100
    assert rows[0]["size"] == len(text.encode()) and rows[0]["size"] > 400
    assert rows[1]["size"] == 5001 and rows[1]["frame"].startswith("\ufffd")
    assert len(rows[1]["frame"].encode()) <= min(100, MALFORMED_KEEP_BYTES)
    wide = MessageLog(_policy(), Sink())
    (row,) = map(_named, wide.rows([("CS", "in", "MALFORMED", None, None, 0.0, "y" * 5000)]))
    assert row["truncated"] and len(row["frame"]) == MALFORMED_KEEP_BYTES


async def test_a_result_is_logged_with_the_action_it_answers():
    sink = Sink()
    log = MessageLog(_policy(), sink)
    result = CallResult("abc", {"status": "Accepted"})
    log.sent("CS", framing.serialize(result), result, "BootNotification")
    (entry,) = log._queue  # noqa: SLF001 - what was queued, before any writer runs
    assert entry[:5] == ("CS", "out", "CALLRESULT", "abc", "BootNotification")
    await log.flush()
    assert sink.rows[0]["action"] == "BootNotification" and sink.rows[0]["frame"] == '[3,"abc",{"status":"Accepted"}]'


async def test_the_writer_redacts_every_frame_but_answers_that_cannot_hold_a_secret():
    sink = Sink()
    log = MessageLog(_policy(), sink)
    authorize = CallResult("a", {"idTokenInfo": {"status": "Accepted",
                                                 "groupIdToken": {"idToken": "GROUP-1", "type": "Central"}}})
    beat = CallResult("h", {"currentTime": "2026-12-06T12:00:00.000Z"})
    vendor = Call("c", "Heartbeat", {"customData": {"vendorId": "ACME", "password": "hunter2"}})
    log.sent("CS", framing.serialize(authorize), authorize, "Authorize")
    log.sent("CS", framing.serialize(beat), beat, "Heartbeat")
    log.received("CS", framing.serialize(vendor), vendor, None)
    # Ends as an empty payload would, but five elements make it no CALL: broken, and scanned.
    broken = '[2,"d","Heartbeat",{"password":"hunter3"},{}]'
    log.received("CS", broken, FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "five elements", "d"), None)
    await log.flush()
    answer, plain, incoming, malformed = (row["frame"] for row in sink.rows)
    assert "GROUP-1" not in answer and "pseudonym:" in answer
    assert plain == framing.serialize(beat)
    assert "hunter2" not in incoming and REDACTED in incoming   # a station's Heartbeat is scanned
    assert "hunter3" not in malformed and REDACTED in malformed


def test_the_policy_section_is_read_and_checked():
    policy = parse_policy({"message_log": {"enabled": False, "retention_days": 3}}, default_policy_data())
    assert policy.message_log.enabled is False and policy.message_log.retention_days == 3
    assert parse_policy({}, default_policy_data()).message_log == MessageLogPolicy()
    with pytest.raises(PolicyError):
        parse_policy({"message_log": {"max_queued_frames": 0}}, default_policy_data())
    with pytest.raises(PolicyError):
        parse_policy({"message_log": {"enabled": "no"}}, default_policy_data())


# --- storage and retention on real databases ----------------------------------------------------

def _row(station: str, at, n: int) -> tuple:
    return (station, "in", "CALL", str(n), "Heartbeat", at.timestamp(), 30, f'[2,"{n}","Heartbeat",{{}}]', False)


def test_retention_deletes_by_age_then_the_oldest_beyond_max_rows(engine):
    now = utcnow()
    with session_scope(engine) as session:
        insert_rows(session, [_row("OLD", now - timedelta(days=20), n) for n in range(7)])
        insert_rows(session, [_row("NEW", now - timedelta(minutes=n), n) for n in range(12)])
    session_for = functools.partial(session_scope, engine)
    assert prune(session_for, older_than=timedelta(days=14), max_rows=1000, chunk=3) == 7
    assert prune(session_for, older_than=timedelta(days=14), max_rows=5, chunk=3) == 7
    with session_scope(engine) as session:
        left = session.exec(select(OcppMessage).order_by(OcppMessage.id)).all()
    assert [row.message_id for row in left] == ["7", "8", "9", "10", "11"]  # the newest five, in order
    assert left[0].at.tzinfo is not None and left[-1].at == now - timedelta(minutes=11) and left[0].truncated is False
    assert prune(session_for, older_than=timedelta(days=14), max_rows=5) == 0


def test_frames_are_found_by_time_whatever_order_their_writes_logged_them_in(engine):
    # Batches overlap in time (two writers, clocks apart) and hold frames out of time order: a time
    # filter still returns exactly the frames logged within it, and only those.
    now = utcnow()
    with session_scope(engine) as session:
        insert_rows(session, [_row("A", now - timedelta(minutes=m), m) for m in (30, 10, 50)])
        insert_rows(session, [_row("B", now - timedelta(minutes=m), 100 + m) for m in (40, 20)])
        insert_rows(session, [_row("C", now - timedelta(minutes=m), 200 + m) for m in (5, 1)])

    def logged(since_minutes, until_minutes) -> list[str]:
        with session_scope(engine) as session:
            rows = frames(session, MessageQuery(since=now - timedelta(minutes=since_minutes),
                                                until=now - timedelta(minutes=until_minutes)),
                          newest_first=False, beyond=None, limit=100)
        return [row.message_id for row in rows]

    assert logged(45, 15) == ["30", "140", "120"]
    assert logged(35, 25) == ["30"]
    assert logged(8, 0) == ["205", "201"]
    assert logged(70, 60) == []


def test_retention_by_age_spares_newer_frames_of_a_batch_and_forgets_emptied_batches(engine):
    now = utcnow()
    with session_scope(engine) as session:
        insert_rows(session, [_row("CS", now - timedelta(days=d), d) for d in (20, 1, 30)])
        insert_rows(session, [_row("CS", now - timedelta(days=d), 100 + d) for d in (40, 50)])
        insert_rows(session, [_row("CS", now, 200)])
    session_for = functools.partial(session_scope, engine)
    assert prune(session_for, older_than=timedelta(days=14), max_rows=1000) == 4
    with session_scope(engine) as session:
        assert [row.message_id for row in session.exec(select(OcppMessage).order_by(OcppMessage.id))] == ["1", "200"]
        batches = session.exec(select(OcppMessageBatch).order_by(OcppMessageBatch.first_id)).all()
    assert len(batches) == 2   # the one whose frames all went is gone; the first keeps its newer frame
    assert _logged_since(engine, now - timedelta(days=2)) == ["1", "200"]


def _logged_since(engine, since) -> list[str]:
    with session_scope(engine) as session:
        return [row.message_id for row in frames(session, MessageQuery(since=since), newest_first=False, beyond=None,
                                                 limit=100)]


def test_the_retention_pass_follows_the_policy(ctx):
    policy = dataclasses.replace(ctx.policy, message_log=MessageLogPolicy(retention_days=1, max_rows=3))
    now = utcnow()
    with session_scope(message_log_engine(ctx.engine)) as session:
        insert_rows(session, [_row("CS", now - timedelta(days=2), n) for n in range(2)]
                    + [_row("CS", now, n) for n in range(2, 7)])
    assert prune_message_log(dataclasses.replace(ctx, policy=policy)) == 4
    with session_scope(message_log_engine(ctx.engine)) as session:
        assert [row.message_id for row in session.exec(select(OcppMessage))] == ["4", "5", "6"]
