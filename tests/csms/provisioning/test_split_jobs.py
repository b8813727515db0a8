"""A Get/SetVariables the station takes only in several messages (its DeviceDataCtrlr limits,
B06.FR.05), sent as a job (``?mode=job`` on the typed command, ``mode=async`` on the raw
``POST …/calls``): stored as a job and its parts, sent one after the other by the outbox to the
project's simulated station over real WebSockets, the answers merged into the job's result; a
part that fails fails the job and the rest is never sent; a restart in the middle resumes; the
same role rules and audit as any job."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json

from core_support import eventually, received
from ocpp_support import csms, open_csms  # noqa: F401 - fixture
from provisioning_support import entry, inventoried
from sqlmodel import select

from api.core.audit import run_in_session
from simulator.station import StationCallError
from storage.audit import AuditEntry
from storage.outbox import OutboundCall

NAMES = ["OfflineThreshold", "HeartbeatInterval", "NetworkConfigurationPriority", "Missing1", "Missing2"]


def _limit(items: int):
    return lambda station: station.device_model.limit_messages("GetVariables", items=items)


def _job(csms, station_id: str, names=NAMES, role: str = "operator", timeout: float | None = None):
    wait = "" if timeout is None else f"&timeout={timeout}"
    return csms.rest.post(f"/api/v1/stations/{station_id}/commands/GetVariables?mode=job{wait}",
                          json={"get_variable_data": [entry("OCPPCommCtrlr", name) for name in names]},
                          headers=csms.headers(role))


async def _settled(csms, station_id: str, job_id: int, timeout: float = 15) -> dict:
    async def done():
        shown = (await csms.rest.get(f"/api/v1/stations/{station_id}/calls/{job_id}",
                                     headers=csms.headers("auditor"))).json()
        return shown if shown["status"] in ("answered", "failed") else None
    return await eventually(done, timeout)


def _audit(csms, station_id: str) -> list[tuple[str, dict]]:
    rows = run_in_session(csms.ctx, lambda s: list(s.exec(select(AuditEntry).where(
        AuditEntry.target == station_id, AuditEntry.action.in_(["station.call", "station.call.result"]))
        .order_by(AuditEntry.seq))))
    return [(row.action, json.loads(row.detail)) for row in rows]


def _stall(station, on_call: int, release: asyncio.Event) -> None:
    """The station's ``on_call``-th GetVariables waits for ``release`` before it answers."""
    original, calls = station.handlers["GetVariables"], [0]

    async def handler(st, payload):
        calls[0] += 1
        if calls[0] == on_call:
            await release.wait()
        answer = original(st, payload)
        return await answer if inspect.isawaitable(answer) else answer
    station.handlers["GetVariables"] = handler


async def test_a_job_of_several_messages_is_sent_part_by_part_and_answered_merged(csms):
    station = await inventoried(csms, "SPLIT-JOB", _limit(2))

    stored = await _job(csms, "SPLIT-JOB")

    assert stored.status_code == 202, stored.text
    job = stored.json()
    assert [part["items"] for part in job["parts"]] == [2, 2, 1]
    assert [part["status"] for part in job["parts"]][1:] == ["held", "held"]
    shown = await _settled(csms, "SPLIT-JOB", job["id"])
    assert shown["status"] == "answered", shown
    assert [len(r["getVariableData"]) for r in received(station, "GetVariables")] == [2, 2, 1]
    results = shown["result"]["get_variable_result"]
    assert [r["variable"]["name"] for r in results] == NAMES
    assert [r["attribute_status"] for r in results] == ["Accepted"] * 3 + ["UnknownVariable"] * 2
    assert [p["status"] for p in shown["parts"]] == ["answered"] * 3 and shown["attempts"] == 3
    # Audited as one job: the request, then its result, both naming the job.
    assert [(action, detail.get("call_id"), detail.get("mode", detail.get("status")))
            for action, detail in _audit(csms, "SPLIT-JOB") if detail["action"] == "GetVariables"][-2:] == [
        ("station.call", job["id"], "async"), ("station.call.result", job["id"], "answered")]


async def test_the_raw_door_splits_a_job_the_same_way(csms):
    station = await inventoried(csms, "SPLIT-RAW", _limit(4))
    stored = await csms.rest.post("/api/v1/stations/SPLIT-RAW/calls", json={
        "action": "GetVariables", "mode": "async", "payload": {"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": name}} for name in NAMES]}},
        headers=csms.headers())

    assert stored.status_code == 202 and len(stored.json()["parts"]) == 2, stored.text
    shown = await _settled(csms, "SPLIT-RAW", stored.json()["id"])
    assert shown["status"] == "answered"
    assert [r["variable"]["name"] for r in shown["response"]["getVariableResult"]] == NAMES
    assert [len(r["getVariableData"]) for r in received(station, "GetVariables")] == [4, 1]


async def test_a_part_that_fails_fails_the_job_and_the_rest_is_never_sent(csms):
    station = await inventoried(csms, "SPLIT-FAIL", _limit(2))
    original, calls = station.handlers["GetVariables"], [0]

    def refuse_second(st, payload):
        calls[0] += 1
        if calls[0] == 2:
            raise StationCallError("InternalError", "busy")
        return original(st, payload)
    station.handlers["GetVariables"] = refuse_second

    shown = await _settled(csms, "SPLIT-FAIL", (await _job(csms, "SPLIT-FAIL")).json()["id"])

    assert shown["status"] == "failed" and shown["result"] is None
    assert shown["error"].startswith("part 2 of 3 (1 answered before): ") and "InternalError" in shown["error"]
    assert [p["status"] for p in shown["parts"]] == ["answered", "failed", "failed"]
    assert shown["parts"][2]["error"] == "not sent: part 2 failed"
    assert len(received(station, "GetVariables")) == 2
    ((_, result),) = [(a, d) for a, d in _audit(csms, "SPLIT-FAIL")
                      if a == "station.call.result" and d["action"] == "GetVariables"]
    assert (result["status"], result["error_code"]) == ("error", "InternalError")


async def test_a_role_the_action_does_not_allow_is_refused_before_anything_is_stored(csms):
    await inventoried(csms, "SPLIT-ROLE", _limit(2))

    refused = await _job(csms, "SPLIT-ROLE", role="auditor")

    assert refused.status_code == 403
    assert run_in_session(csms.ctx, lambda s: s.exec(select(OutboundCall)).all()) == []


async def test_a_restart_in_the_middle_resumes_where_the_parts_stood(sqlite_pki):
    # No back-off for the part cut off by the shutdown: the test need not wait 30 s for it.
    policy = sqlite_pki.ctx.policy
    quick = dataclasses.replace(policy, delivery=dataclasses.replace(policy.delivery, backoff_seconds=0))
    pki = dataclasses.replace(sqlite_pki, ctx=dataclasses.replace(sqlite_pki.ctx, policy=quick))
    release = asyncio.Event()   # never set: the station never answers the second part
    async for first in open_csms(pki):
        station = await inventoried(first, "SPLIT-RESTART", _limit(2))
        password = station.password
        _stall(station, 2, release)
        job = (await _job(first, "SPLIT-RESTART")).json()
        await eventually(lambda: _async(len(received(station, "GetVariables")) == 2))
        before = (await first.rest.get(f"/api/v1/stations/SPLIT-RESTART/calls/{job['id']}",
                                       headers=first.headers("auditor"))).json()
        assert before["status"] == "pending"
        assert [p["status"] for p in before["parts"]] == ["answered", "sent", "held"]

    async for second in open_csms(pki):
        again = second.simulator("SPLIT-RESTART", password=password)
        _limit(2)(again)
        await again.connect()
        await again.boot()
        shown = await _settled(second, "SPLIT-RESTART", job["id"])
        assert shown["status"] == "answered", shown
        assert [r["variable"]["name"] for r in shown["result"]["get_variable_result"]] == NAMES
        # The part cut off went again, then the held one; the one answered before did not.
        assert [len(r["getVariableData"]) for r in received(again, "GetVariables")] == [2, 1]
        assert [p["status"] for p in shown["parts"]] == ["answered"] * 3


async def test_the_answer_timeout_an_operator_gave_a_job_holds_after_a_restart(sqlite_pki):
    # Stored with the job and its parts: a restart (or another node) sends them with it, not
    # with the gateway's 5 s.
    policy = sqlite_pki.ctx.policy
    quick = dataclasses.replace(policy, delivery=dataclasses.replace(policy.delivery, backoff_seconds=0))
    pki = dataclasses.replace(sqlite_pki, ctx=dataclasses.replace(sqlite_pki.ctx, policy=quick))
    async for first in open_csms(pki):
        station = await inventoried(first, "SPLIT-TIMEOUT", _limit(2))
        password = station.password
        await station.close()
        await first.until(lambda: first.gateway.session("SPLIT-TIMEOUT") is None)
        job = (await _job(first, "SPLIT-TIMEOUT", timeout=0.5)).json()
        assert [p["status"] for p in job["parts"]] == ["pending", "held", "held"]

    async for second in open_csms(pki):
        again = second.simulator("SPLIT-TIMEOUT", password=password)
        _limit(2)(again)
        again.handlers["GetVariables"] = _never_answers
        await again.connect()
        await again.boot()
        shown = await _settled(second, "SPLIT-TIMEOUT", job["id"])
        assert shown["status"] == "failed", shown
        assert "no answer to GetVariables within 0.5 s" in shown["error"], shown["error"]
        assert [p["status"] for p in shown["parts"]] == ["failed"] * 3
        assert len(received(again, "GetVariables")) == quick.delivery.max_attempts   # each part 1, none after


async def _never_answers(station, payload):
    await asyncio.Event().wait()


async def _async(value):
    return value
