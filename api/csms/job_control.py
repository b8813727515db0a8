"""Operators' stored calls (jobs) listed and cancelled before they leave.

A job waits in the outbox until its station is connected and booted: an operator who queued a
Reset for a station that is offline, or for the wrong station, must be able to take it back
before the station comes back. Cancelling is a conditional change of the job's rows, pending (or
held, a split job's later parts) to failed, under a row lock: the outbox engine's claim of a row
(api/csms/outbox/engine.py) is itself conditional on the row being pending, so exactly one of
the two wins. A job already with its station (sent, an answer awaited) is not cancelled: its
answer decides, as it would for a call sent at once. Who may send a job's action may cancel it,
and every cancel, refused or done, is audited (``station.call.cancel``).
"""

from __future__ import annotations

import json

from sqlmodel import select

from api.core.audit import Actor, audited, require_station
from api.core.context import Context
from api.core.refusal import Conflict, NotFound
from api.csms import call_effects, split_jobs
from api.csms.call_records import CALL_CANCEL
from api.csms.call_rules import call_rule, may
from api.csms.operator_calls import role_refusal
from api.csms.outbox.purposes import OPERATOR_JOB, OPERATOR_SPLIT
from storage.db import read_scope
from storage.outbox import CallStatus, OutboundCall
from storage.types import utcnow

# The rows an operator polls: a one-message job, or a split job (its parts are shown within it).
JOB_PURPOSES = (OPERATOR_JOB, OPERATOR_SPLIT)
_WAITING = (CallStatus.PENDING, CallStatus.HELD)
CANCELLED = "cancelled"


def listed(ctx: Context, station_id: str, status: str | None, before: int | None, limit: int) -> list[OutboundCall]:
    """The station's jobs, newest first; ``status`` narrows them, ``before`` pages (an id).
    NotFound: no such station."""
    query = select(OutboundCall).where(OutboundCall.station_id == station_id,
                                       OutboundCall.purpose.in_(JOB_PURPOSES))
    if status is not None:
        query = query.where(OutboundCall.status == status)
    if before is not None:
        query = query.where(OutboundCall.id < before)
    with read_scope(ctx.engine) as session:
        require_station(session, station_id)
        return list(session.exec(query.order_by(OutboundCall.id.desc()).limit(limit)))


def cancel(ctx: Context, actor: Actor, station_id: str, call_id: int) -> OutboundCall:
    """Cancel the job ``call_id`` of ``station_id`` before it leaves; the job as it now stands.
    NotFound: no such job of this station; Conflict: it is with the station, or has ended;
    RoleRequired: the actor's role may not send its action."""
    with audited(ctx, actor, CALL_CANCEL, station_id) as (session, detail):
        detail.update(call_id=call_id)
        job = session.get(OutboundCall, call_id, with_for_update=True)
        if job is None or job.station_id != station_id or job.purpose not in JOB_PURPOSES:
            raise NotFound("call.unknown", f"no job {call_id} for station {station_id!r}")
        payload = json.loads(job.payload)
        detail.update(action=job.action)
        rule = call_rule(job.action, payload)
        if not may(actor.role, rule):
            raise role_refusal(actor, job.action, rule)
        # The job's rows that are sent, locked as the job is: itself, or it and its parts.
        rows = [job, *split_jobs.parts_of(session, job, lock=True)]
        if any(row.status == CallStatus.SENT for row in rows):
            raise Conflict("call.sent", f"job {call_id} is with the station now, its answer awaited: that answer "
                                        "decides, as for a call sent at once")
        waiting = [row for row in rows if row.status in _WAITING]
        if not waiting:
            raise Conflict("call.ended", f"job {call_id} has ended already ({job.status}); nothing is left to cancel")
        now = utcnow()
        reason = f"cancelled by {actor.name}"
        if job.attempts:   # sent before, unanswered, waiting to be sent again
            reason += (f" (sent {job.attempts} time(s) before without an answer: the station may have "
                       "applied it)")
        for row in waiting:
            row.status, row.error, row.updated_at = CallStatus.FAILED, reason[:500], now
            session.add(row)
        answered = sum(row.status == CallStatus.ANSWERED for row in rows if row is not job)
        if job.purpose == OPERATOR_SPLIT:
            job.status, job.updated_at = CallStatus.FAILED, now
            job.error = f"{reason} after {answered} of {len(rows) - 1} parts were answered"[:500]
            session.add(job)
        # What was recorded as requested when the job was stored (a reservation, a remote start)
        # learns that it never left.
        call_effects.unanswered(session, station_id, job.action, payload, CANCELLED)
        detail.update(attempts=sum(row.attempts for row in rows), parts_answered=answered)
        return job

