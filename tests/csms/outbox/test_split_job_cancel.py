"""Cancelling a split job (api/csms/job_control.py): every part not yet sent fails with it, and
none is cancelled while one is with the station."""

from __future__ import annotations

import pytest
from fake_connection import register

from api.core.audit import Actor, run_in_session
from api.core.refusal import Conflict
from api.csms import job_control, split_jobs
from storage.outbox import CallStatus, OutboundCall

OPERATOR = Actor("token:op", "operator")
PARTS = [{"getVariableData": [{"component": {"name": "C"}, "variable": {"name": f"V{n}"}}]} for n in range(3)]


def _split_job(ctx) -> int:
    return run_in_session(ctx, lambda s: split_jobs.store(s, "CS-1", "GetVariables", {"getVariableData": []},
                                                          PARTS, OPERATOR.name).id)


def _statuses(ctx, job_id: int) -> list[str]:
    def read(session):
        job = session.get(OutboundCall, job_id)
        return [job.status] + [part.status for part in split_jobs.parts_of(session, job)]
    return run_in_session(ctx, read)


def test_a_split_job_not_yet_sent_fails_whole(ctx):
    register(ctx, "CS-1")
    job_id = _split_job(ctx)
    assert _statuses(ctx, job_id) == [CallStatus.PENDING, CallStatus.PENDING, CallStatus.HELD, CallStatus.HELD]
    job = job_control.cancel(ctx, OPERATOR, "CS-1", job_id)
    assert job.error == "cancelled by token:op after 0 of 3 parts were answered"
    assert _statuses(ctx, job_id) == [CallStatus.FAILED] * 4


def test_a_split_job_whose_part_is_out_is_not_cancelled(ctx):
    register(ctx, "CS-1")
    job_id = _split_job(ctx)

    def send_first(session):
        first = split_jobs.parts_of(session, session.get(OutboundCall, job_id))[0]
        first.status = CallStatus.SENT
        session.add(first)
    run_in_session(ctx, send_first)
    with pytest.raises(Conflict) as refused:
        job_control.cancel(ctx, OPERATOR, "CS-1", job_id)
    assert refused.value.rule == "call.sent"
    assert _statuses(ctx, job_id) == [CallStatus.PENDING, CallStatus.SENT, CallStatus.HELD, CallStatus.HELD]
