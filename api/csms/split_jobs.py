"""An operator's job that the station takes only in several messages (Get/SetVariables split by
its DeviceDataCtrlr limits, B06.FR.05): stored as one job and its parts, the answers merged.

Persist first, as every job: the job (the row the operator polls, purpose ``operator_split``,
never sent itself) and each part (purpose ``operator_part``, ``reference`` the job's id, one
message each) are stored in the transaction that audits the request. The first part is pending,
the others ``held``: the outbox engine (api/csms/outbox/engine.py) sends only pending rows, so
the parts leave one after the other, each released when the one before is answered, in the
transaction that records that answer. A restart in the middle finds the parts where they
stood: answered ones stay answered, the one out is sent again once its lease is abandoned, the
held ones wait their turn.

When the last part is answered, the job is answered with the parts' answers merged in the order
asked (the command's ``merge``), and acted on and audited as any job (``OperatorJobs.answered``).
A part that fails (a CALLERROR, no answer after ``[delivery] max_attempts``, refused as it
leaves) fails the job, saying which part and how many were answered before (the station applied
those); the held parts are never sent.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import event
from sqlmodel import Session, select

from api.csms.outbox import signal as outbox_signal
from api.csms.outbox.engine import Failure, Kind
from api.csms.outbox.purposes import OPERATOR_PART, OPERATOR_SPLIT
from api.csms.provisioning.splitting import Splittable
from api.csms.routes import COMMANDS
from storage.outbox import CallStatus, OutboundCall


def store(session: Session, station_id: str, action: str, payload: dict[str, Any], parts: list[dict[str, Any]],
          created_by: str, answer_timeout: float | None = None) -> OutboundCall:
    """The job and its parts, in ``session``; the job's row. Each part waits ``answer_timeout``
    for its answer."""
    job = OutboundCall(station_id=station_id, action=action, payload=json.dumps(payload), purpose=OPERATOR_SPLIT,
                       created_by=created_by, answer_timeout=answer_timeout)
    session.add(job)
    session.flush()
    session.add_all([OutboundCall(station_id=station_id, action=action, payload=json.dumps(part),
                                  purpose=OPERATOR_PART, reference=str(job.id), created_by=created_by,
                                  answer_timeout=answer_timeout,
                                  status=CallStatus.PENDING if number == 0 else CallStatus.HELD)
                     for number, part in enumerate(parts)])
    session.flush()
    return job


def parts_of(session: Session, job: OutboundCall, *, lock: bool = False) -> list[OutboundCall]:
    """The parts of a split job in the order they are sent; [] for any other row. ``lock``: held
    until the transaction ends (a cancel deciding on their statuses, api/csms/job_control.py)."""
    if job.purpose != OPERATOR_SPLIT:
        return []
    query = select(OutboundCall).where(OutboundCall.station_id == job.station_id, OutboundCall.purpose == OPERATOR_PART,
                                       OutboundCall.reference == str(job.id)).order_by(OutboundCall.id)
    return list(session.exec(query.with_for_update() if lock else query))


class JobKind(Protocol):
    """What a split job's parts need of the operators' job kind (api/csms/operator_calls.py)."""

    def check(self, session: Session, row: OutboundCall) -> None: ...

    def answered(self, session: Session, row: OutboundCall, response: dict[str, Any], now: datetime) -> None: ...

    def failed(self, session: Session, row: OutboundCall, failure: Failure, now: datetime) -> None: ...


class OperatorParts(Kind):
    """The outbox kind of a split job's parts. Each part is checked as it leaves, and the job
    settled, by the operators' job kind (``jobs``): the same rules and audit as a one-message job."""

    purpose = OPERATOR_PART

    def __init__(self, jobs: JobKind) -> None:
        self._jobs = jobs

    def _job(self, session: Session, part: OutboundCall) -> OutboundCall:
        return session.get(OutboundCall, int(part.reference))

    def check(self, session: Session, row: OutboundCall) -> None:
        self._jobs.check(session, row)

    def answered(self, session: Session, row: OutboundCall, response: dict[str, Any], now: datetime) -> None:
        job = self._job(session, row)
        parts = parts_of(session, job)
        held = [part for part in parts if part.status == CallStatus.HELD]
        if held:
            held[0].status, held[0].updated_at = CallStatus.PENDING, now
            session.add(held[0])
            # The engine looks for the released part at once, once it is committed (a ring
            # before would find it not yet there, and it would wait for the next scan).
            event.listen(session, "after_commit", lambda _session: outbox_signal.ring(), once=True)
            return
        command: type[Splittable] = COMMANDS[job.action]
        merged = command.merge([json.loads(part.response or "{}") for part in parts])
        job.status, job.response, job.updated_at = CallStatus.ANSWERED, json.dumps(merged), now
        job.attempts = sum(part.attempts for part in parts)
        session.add(job)
        session.flush()
        self._jobs.answered(session, job, merged, now)

    def failed(self, session: Session, row: OutboundCall, failure: Failure, now: datetime) -> None:
        job = self._job(session, row)
        parts = parts_of(session, job)
        number = next(n for n, part in enumerate(parts, 1) if part.id == row.id)
        for part in parts:
            if part.status == CallStatus.HELD:
                part.status, part.error, part.updated_at = CallStatus.FAILED, f"not sent: part {number} failed", now
                session.add(part)
        where = f"part {number} of {len(parts)} ({number - 1} answered before): "
        job.status, job.error, job.updated_at = CallStatus.FAILED, (where + (row.error or ""))[:500], now
        job.attempts = sum(part.attempts for part in parts)
        session.add(job)
        session.flush()
        self._jobs.failed(session, job, Failure(failure.rule, where + failure.reason, failure.status,
                                                failure.error_code), now)


__all__ = ["OperatorParts", "parts_of", "store"]
