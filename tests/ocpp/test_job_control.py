"""Operators' stored calls listed and cancelled before they leave, end to end: a real station
over a real WebSocket connects after the cancel and is never sent the cancelled call; a job
already with the station is not cancelled; roles and the audit as for sending."""

from __future__ import annotations

import json

from core_support import eventually
from ocpp_support import csms  # noqa: F401 - fixture
from sqlmodel import select

from api.core.audit import run_in_session
from storage.audit import AuditEntry

TRIGGER_HEARTBEAT = {"requestedMessage": "Heartbeat"}
ACCEPTED = {"status": "Accepted"}
RESET = {"type": "OnIdle", "evseId": 1}


def _cancels(csms, station_id: str) -> list[AuditEntry]:
    return run_in_session(csms.ctx, lambda s: list(s.exec(select(AuditEntry).where(
        AuditEntry.action == "station.call.cancel", AuditEntry.target == station_id).order_by(AuditEntry.seq))))


async def test_a_job_cancelled_before_its_station_connects_is_never_sent(csms):
    password = csms.add_station("JOB-1")
    kept = (await csms.post_call("JOB-1", "TriggerMessage", TRIGGER_HEARTBEAT, mode="async")).json()
    mistaken = (await csms.post_call("JOB-1", "Reset", RESET, mode="async")).json()

    pending = await csms.rest.get("/api/v1/stations/JOB-1/calls", params={"status": "pending"},
                                  headers=csms.headers("auditor"))
    assert [c["id"] for c in pending.json()["calls"]] == [mistaken["id"], kept["id"]]

    cancelled = await csms.rest.delete(f"/api/v1/stations/JOB-1/calls/{mistaken['id']}",
                                       headers=csms.headers("operator"))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "failed" and cancelled.json()["error"].startswith("cancelled by token:")
    again = await csms.rest.delete(f"/api/v1/stations/JOB-1/calls/{mistaken['id']}",
                                   headers=csms.headers("operator"))
    assert again.status_code == 409 and again.json()["rule"] == "call.ended"

    station = await csms.connect_raw("JOB-1", password)
    station.answers["TriggerMessage"] = lambda payload: ACCEPTED
    await station.boot()
    assert (await station.next_call()).action == "TriggerMessage"

    async def settled():
        calls = (await csms.rest.get("/api/v1/stations/JOB-1/calls", headers=csms.headers("auditor"))).json()
        return {c["action"]: c["status"] for c in calls["calls"]} == {"TriggerMessage": "answered", "Reset": "failed"}
    await eventually(settled)
    assert station.received.empty(), "the cancelled Reset was sent"
    assert [(e.outcome, json.loads(e.detail)["action"]) for e in _cancels(csms, "JOB-1")] == \
        [("success", "Reset"), ("refused", "Reset")]


async def test_a_job_with_its_station_is_not_cancelled_its_answer_decides(csms):
    password = csms.add_station("JOB-2")
    station = await csms.connect_raw("JOB-2", password)
    station.answers["TriggerMessage"] = lambda payload: None   # it takes the call and does not answer
    await station.boot()
    job = (await csms.post_call("JOB-2", "TriggerMessage", TRIGGER_HEARTBEAT, mode="async")).json()
    call = await station.next_call()   # sent, not answered yet
    assert call.action == "TriggerMessage"

    refused = await csms.rest.delete(f"/api/v1/stations/JOB-2/calls/{job['id']}", headers=csms.headers("operator"))
    assert refused.status_code == 409 and refused.json()["rule"] == "call.sent"


async def test_cancelling_needs_the_role_that_sends_the_action_and_names_unknown_jobs(csms):
    csms.add_station("JOB-3")
    csms.add_station("JOB-OTHER")
    officers = (await csms.post_call("JOB-3", "Reset", {"type": "Immediate"}, role="officer", mode="async")).json()

    as_operator = await csms.rest.delete(f"/api/v1/stations/JOB-3/calls/{officers['id']}",
                                         headers=csms.headers("operator"))
    assert as_operator.status_code == 403 and as_operator.json()["rule"] == "call.role"
    as_auditor = await csms.rest.delete(f"/api/v1/stations/JOB-3/calls/{officers['id']}",
                                        headers=csms.headers("auditor"))
    assert as_auditor.status_code == 403
    elsewhere = await csms.rest.delete(f"/api/v1/stations/JOB-OTHER/calls/{officers['id']}",
                                       headers=csms.headers("officer"))
    assert elsewhere.status_code == 404 and elsewhere.json()["rule"] == "call.unknown"
    assert (await csms.rest.delete(f"/api/v1/stations/JOB-3/calls/{officers['id']}",
                                   headers=csms.headers("officer"))).status_code == 200
    assert [e.outcome for e in _cancels(csms, "JOB-3")] == ["refused", "success"]
    assert (await csms.rest.get("/api/v1/stations/NO-SUCH/calls", headers=csms.headers())).status_code == 404
