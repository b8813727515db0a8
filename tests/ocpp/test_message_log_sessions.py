"""The message log end to end: the project's simulated station (and a raw one for broken frames)
over real WebSockets behind the real listener, the frames read back through the REST API.
Passwords set through SetVariables (the A01 rotation) and SetNetworkProfile never reach it; the
policy turns it off; the filters, paging and both export formats."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import secrets
from datetime import datetime, timedelta, timezone

import pytest
from ocpp_support import csms, open_csms  # noqa: F401 - fixture
from sqlalchemy import func
from sqlmodel import select
from trust_anchor_support import booted
from websockets.frames import Frame, Opcode

from storage.db import read_scope
from storage.message_log import OcppMessage, message_log_engine

ID_TOKEN = {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"}


async def _log(csms, role: str = "auditor", **query) -> list[dict]:
    await csms.gateway.message_log.flush()
    response = await csms.rest.get("/api/v1/message-log", params={"limit": 500, **query}, headers=csms.headers(role))
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def _stored(ctx, work):
    with read_scope(message_log_engine(ctx.engine)) as session:
        return work(session)


def _shape(messages: list[dict]) -> list[tuple]:
    return [(m["direction"], m["kind"], m["action"]) for m in messages]


async def test_a_station_sees_its_frames_logged_in_order_both_ways(csms):
    station = await booted(csms, "LOG-1", profile=1)
    await station.heartbeat()
    answer = await csms.post_call("LOG-1", "GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]})
    assert answer.status_code == 200, answer.text
    assert await station.call("Authorize", {"idToken": ID_TOKEN}) is not None

    messages = list(reversed(await _log(csms, station_id="LOG-1")))  # oldest first
    assert _shape(messages) == [
        ("in", "CALL", "BootNotification"), ("out", "CALLRESULT", "BootNotification"),
        ("in", "CALL", "Heartbeat"), ("out", "CALLRESULT", "Heartbeat"),
        ("out", "CALL", "GetVariables"), ("in", "CALLRESULT", "GetVariables"),
        ("in", "CALL", "Authorize"), ("out", "CALLRESULT", "Authorize")]
    # A CALL and its answer share the message id; the frame is the text on the wire.
    for call, result in zip(messages[::2], messages[1::2], strict=True):
        assert call["message_id"] == result["message_id"]
    heartbeat = json.loads(messages[3]["frame"])
    assert heartbeat[0] == 3 and "currentTime" in heartbeat[2] and messages[3]["size"] == len(messages[3]["frame"])
    assert all(m["station_id"] == "LOG-1" and not m["truncated"] for m in messages)
    # The idToken is a pseudonym in the log; its type stays.
    authorize = json.loads(messages[6]["frame"])[3]["idToken"]
    assert authorize["idToken"].startswith("pseudonym:") and authorize["type"] == "ISO14443"
    assert ID_TOKEN["idToken"] not in json.dumps(messages)


async def test_a_password_set_through_set_variables_never_reaches_the_log(csms):
    station = await booted(csms, "LOG-PW", profile=1)
    rotated = await csms.rest.post("/api/v1/stations/LOG-PW/password-rotation", headers=csms.headers())
    assert rotated.status_code == 200, rotated.text
    ((action, payload),) = [(a, p) for a, p in station.received if a == "SetVariables"]
    password = payload["setVariableData"][0]["attributeValue"]
    assert len(password) >= 16

    messages = await _log(csms, station_id="LOG-PW", action="SetVariables")
    assert _shape(messages) == [("in", "CALLRESULT", "SetVariables"), ("out", "CALL", "SetVariables")]
    sent = json.loads(messages[1]["frame"])[3]["setVariableData"][0]
    assert sent["variable"] == {"name": "BasicAuthPassword"} and sent["attributeValue"] == "[redacted]"
    everything = _stored(csms.ctx, lambda s: [row.frame for row in s.exec(select(OcppMessage))])
    assert everything and not any(password in frame for frame in everything)


async def test_network_profile_credentials_never_reach_the_log(csms):
    await booted(csms, "LOG-NP", profile=1)
    secrets = {"password": "vpn-secret-1", "key": "vpn-psk-2", "apnPassword": "apn-secret-3"}
    answer = await csms.post_call("LOG-NP", "SetNetworkProfile", {"configurationSlot": 2, "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "ws://csms.example/ocpp",
        "messageTimeout": 30, "securityProfile": 1, "ocppInterface": "Wireless0",
        "vpn": {"server": "vpn.example", "user": "u", "password": secrets["password"], "key": secrets["key"],
                "type": "IPSec"},
        "apn": {"apn": "internet", "apnPassword": secrets["apnPassword"], "simPin": 4321,
                "apnAuthentication": "AUTO"}}}, role="officer")
    assert answer.status_code == 200 and answer.json()["response"] == {"status": "Accepted"}, answer.text
    (sent,) = await _log(csms, station_id="LOG-NP", action="SetNetworkProfile", direction="out")
    data = json.loads(sent["frame"])[3]["connectionData"]
    assert data["vpn"]["password"] == data["vpn"]["key"] == data["apn"]["apnPassword"] == "[redacted]"
    assert data["apn"]["simPin"] == "[redacted]" and data["ocppCsmsUrl"] == "ws://csms.example/ocpp"
    assert not any(secret in sent["frame"] for secret in secrets.values())


async def test_broken_frames_are_logged_as_they_came_and_answered_frames_keep_their_action(csms):
    password = csms.add_station("LOG-RAW")
    raw = await csms.connect_raw("LOG-RAW", password)
    answer = await raw.send_raw('[2, "x1", "Heartbeat"')
    assert answer[2] == "RpcFrameworkError"
    messages = await _log(csms, station_id="LOG-RAW")
    assert _shape(messages) == [("out", "CALLERROR", None), ("in", "MALFORMED", None)]
    assert messages[1]["frame"] == '[2, "x1", "Heartbeat"' and messages[1]["message_id"] is None


async def test_a_frame_a_spreadsheet_would_run_is_escaped_in_the_csv_export_and_exact_in_json_lines(csms):
    password = csms.add_station("LOG-CSV")
    raw = await csms.connect_raw("LOG-CSV", password)
    hostile = '=HYPERLINK("http://attacker.example/")'
    assert (await raw.send_raw(hostile))[2] == "RpcFrameworkError"
    await csms.gateway.message_log.flush()
    export = lambda fmt: csms.rest.get("/api/v1/message-log/export",  # noqa: E731
                                       params={"station_id": "LOG-CSV", "kind": "MALFORMED", "format": fmt},
                                       headers=csms.headers("auditor"))
    (row,) = list(csv.DictReader(io.StringIO((await export("csv")).text)))
    assert row["frame"] == "'" + hostile
    (line,) = (await export("jsonl")).text.splitlines()
    assert json.loads(line)["frame"] == hostile


async def test_with_the_policy_off_nothing_is_queued_or_written(sqlite_pki):
    policy = sqlite_pki.ctx.policy
    off = dataclasses.replace(policy, message_log=dataclasses.replace(policy.message_log, enabled=False))
    pki = dataclasses.replace(sqlite_pki, ctx=dataclasses.replace(sqlite_pki.ctx, policy=off))
    async for made in open_csms(pki):
        assert made.gateway.message_log is None
        station = await booted(made, "LOG-OFF", profile=1)
        await station.heartbeat()
        response = await made.rest.get("/api/v1/message-log", headers=made.headers("auditor"))
        assert response.status_code == 200 and response.json()["messages"] == []
    count = _stored(sqlite_pki.ctx, lambda s: s.exec(select(func.count()).select_from(OcppMessage)).one())
    assert count == 0


async def test_filters_paging_and_both_export_formats(csms):
    for name in ("LOG-F1", "LOG-F2"):
        station = await booted(csms, name, profile=1)
        for _ in range(3):
            await station.heartbeat()
    await csms.gateway.message_log.flush()

    one = await _log(csms, station_id="LOG-F1", action="Heartbeat", direction="in")
    assert len(one) == 3 and {m["kind"] for m in one} == {"CALL"}
    by_id = await _log(csms, message_id=one[0]["message_id"])
    assert _shape(by_id) == [("out", "CALLRESULT", "Heartbeat"), ("in", "CALL", "Heartbeat")]
    assert await _log(csms, kind="CALLERROR") == []
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert await _log(csms, since=future) == [] and len(await _log(csms, until=future, station_id="LOG-F2")) == 8

    pages, before = [], None
    while True:
        params = {"station_id": "LOG-F1", "limit": 3, **({"before": before} if before else {})}
        body = (await csms.rest.get("/api/v1/message-log", params=params, headers=csms.headers("officer"))).json()
        pages.append([m["id"] for m in body["messages"]])
        if (before := body["next_before"]) is None:
            break
    ids = [i for page in pages for i in page]
    assert [len(page) for page in pages] == [3, 3, 2] and ids == sorted(ids, reverse=True)

    exported = await csms.rest.get("/api/v1/message-log/export", params={"station_id": "LOG-F1"},
                                   headers=csms.headers("auditor"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert [m["id"] for m in lines] == sorted(ids)  # oldest first
    as_csv = await csms.rest.get("/api/v1/message-log/export", params={"station_id": "LOG-F2", "format": "csv"},
                                 headers=csms.headers("auditor"))
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 8 and rows[0]["action"] == "BootNotification" and json.loads(rows[0]["frame"])[0] == 2
    audit = (await csms.rest.get("/api/v1/audit", params={"action": "message_log.export"},
                                 headers=csms.headers("officer"))).json()["entries"]
    assert [(e["target"], e["detail"]["format"], e["detail"]["filters"]) for e in audit] == \
        [("LOG-F2", "csv", {"station_id": "LOG-F2"}), ("LOG-F1", "jsonl", {"station_id": "LOG-F1"})]


@pytest.mark.parametrize("role", ["operator"])
async def test_the_log_is_for_oversight_only(csms, role):
    for path in ("/api/v1/message-log", "/api/v1/message-log/export"):
        assert (await csms.rest.get(path, headers=csms.headers(role))).status_code == 403


async def test_a_frame_over_the_size_limit_is_logged_cut_with_its_true_size_then_closed(csms):
    password = csms.add_station("LOG-BIG")
    raw = await csms.connect_raw("LOG-BIG", password)
    limit = csms.listeners.config.max_size
    # Random text: compression must not shrink it under the limit.
    big = '[2,"big-1","DataTransfer",{"vendorId":"x","data":"%s"}]' % secrets.token_hex(limit)
    await raw.ws.send(big)
    await raw.wait_closed()
    assert raw.ws.close_code == 1009

    (logged,) = await _log(csms, station_id="LOG-BIG")
    assert (logged["direction"], logged["kind"], logged["action"]) == ("in", "CALL", "DataTransfer")
    assert logged["message_id"] == "big-1" and logged["size"] == len(big) and logged["truncated"]
    kept = csms.ctx.policy.message_log.max_frame_bytes
    assert len(logged["frame"]) == kept and big.startswith(logged["frame"])


async def test_frames_over_the_limit_held_together_stay_within_the_budget_the_one_over_it_is_closed_unread(csms):
    # Two stations each start a 600 KiB frame (over max_size, read to be logged) and stop at 450
    # KiB, as a fleet hit by one firmware bug would: each fits the budget, both would not.
    oversize = csms.listeners.oversize
    oversize.budget = 700 * 1024
    limit = csms.listeners.config.max_size
    frames, raws = {}, {}
    for name in ("LOG-HOLD-A", "LOG-HOLD-B"):
        raws[name] = await csms.connect_raw(name, csms.add_station(name))
        text = '[2,"%s","DataTransfer",{"vendorId":"x","data":"%s"}]' % (name, secrets.token_hex(300 * 1024))
        frames[name] = Frame(Opcode.TEXT, text.encode()).serialize(mask=True)
    half = 450 * 1024
    raws["LOG-HOLD-A"].ws.transport.write(frames["LOG-HOLD-A"][:half])
    await csms.until(lambda: oversize.held > half - limit - 2048)
    raws["LOG-HOLD-B"].ws.transport.write(frames["LOG-HOLD-B"][:half])

    await raws["LOG-HOLD-B"].wait_closed()
    assert raws["LOG-HOLD-B"].ws.close_code == 1009
    await csms.until(lambda: csms.gateway.session("LOG-HOLD-B") is None)
    (refused,) = await _log(csms, station_id="LOG-HOLD-B")
    assert (refused["kind"], refused["frame"], refused["truncated"]) == ("MALFORMED", "", True)
    # What it held when refused: over the limit (that is what counts), at most what it sent (it is
    # refused as soon as the total passes the budget, maybe before the rest of its 450 KiB arrived).
    assert limit < refused["size"] <= half
    # The first one was not disturbed: it finishes its frame, which is logged with its beginning.
    assert csms.gateway.session("LOG-HOLD-A") is not None and oversize.held <= oversize.budget
    raws["LOG-HOLD-A"].ws.transport.write(frames["LOG-HOLD-A"][half:])
    await raws["LOG-HOLD-A"].wait_closed()
    assert raws["LOG-HOLD-A"].ws.close_code == 1009
    (kept,) = await _log(csms, station_id="LOG-HOLD-A")
    assert (kept["kind"], kept["message_id"], kept["truncated"]) == ("CALL", "LOG-HOLD-A", True)
    await csms.until(lambda: oversize.held == 0)


async def test_a_frame_over_the_read_ceiling_is_logged_as_its_size_alone(csms):
    password = csms.add_station("LOG-HUGE")
    raw = await csms.connect_raw("LOG-HUGE", password)
    ceiling = csms.listeners.config.read_ceiling
    await raw.ws.send('[2,"huge-1","DataTransfer",{"vendorId":"x","data":"%s"}]' % secrets.token_hex(ceiling))
    await raw.wait_closed()
    assert raw.ws.close_code == 1009
    await csms.until(lambda: csms.gateway.session("LOG-HUGE") is None)  # its session has ended

    (logged,) = await _log(csms, station_id="LOG-HUGE")
    assert (logged["direction"], logged["kind"], logged["frame"]) == ("in", "MALFORMED", "")
    assert logged["size"] >= ceiling and logged["truncated"]


async def test_a_window_that_ends_before_it_starts_is_refused_not_answered_empty(csms):
    # Swapped dates answered 200 with no frames, as if the station had been silent; so did the events.
    swapped = {"since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"}
    for path in ("/api/v1/message-log", "/api/v1/message-log/export", "/api/v1/events"):
        answer = await csms.rest.get(path, params=swapped, headers=csms.headers("auditor"))
        assert answer.status_code == 422 and answer.json()["rule"] == "request.window", (path, answer.text)
        assert answer.json()["field"] == "query.until"
    same = await csms.rest.get("/api/v1/message-log", params={"since": swapped["until"], "until": swapped["until"]},
                               headers=csms.headers("auditor"))
    assert same.status_code == 422
    ordered = await csms.rest.get("/api/v1/message-log", params={"since": swapped["until"], "until": swapped["since"]},
                                  headers=csms.headers("auditor"))
    assert ordered.status_code == 200, ordered.text
