"""Requests answered by a stream of numbered parts (seqNo from 0, tbc true on all but the last):
CustomerInformation → NotifyCustomerInformation (N09/N10), GetMonitoringReport →
NotifyMonitoringReport (N02), GetDisplayMessages → NotifyDisplayMessages (O03).

The request is recorded before it leaves (``requested``, from api/csms/call_effects.py); its
requestId must be new for the station and kind, so a stream is never mixed with an older one's.
Each part that comes is counted against it (``part``): a seqNo other than the next one expected
marks the stream as having a gap, and the part with tbc false completes it only when none was
missing. A part for a requestId we never sent is not kept (the caller says so in the log).

Where a part falls in its stream — twice, out of order, which seqNos are missing — is decided
here for every stream, this one's and the device model's NotifyReport (``place``): each keeps
what it needs of the answer (api/csms/provisioning/device_model.py keeps every seqNo and lists
the missing ones; these rows keep counters and one flag).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from api.core.refusal import Conflict
from storage.report_requests import REQUESTED, ReportRequest
from storage.types import INT32_MAX, utcnow

SUBJECT_MAX = 4000   # report_request.subject and device_report.criteria


@dataclass(frozen=True)
class Placed:
    """Where one part falls, given the seqNos received before it."""

    duplicate: bool            # received before: its first copy counts
    out_of_order: bool         # below a seqNo already received
    last_seq_no: int | None    # of the part with tbc false, once it came
    missing_count: int         # not received: below the highest while streaming, up to the last once it came
    missing: tuple[int, ...]   # the first of them, at most ``shown``

    @property
    def in_order(self) -> bool:
        return not (self.duplicate or self.out_of_order or self.missing_count)


def place(seq_no: int, tbc: bool, received: Collection[int], last_seq_no: int | None = None, *,
          shown: int = 100) -> Placed:
    """``received``: the seqNos before this part (``range(n)`` for a stream in order so far, so
    the common case reads and counts nothing); ``last_seq_no``: the last part's, if it came
    before. Never more than one pass over ``received``, whatever the seqNos (a station may send
    any 32-bit number)."""
    if seq_no in received:
        return Placed(True, True, last_seq_no, 0, ())
    highest = _highest(received)
    last = seq_no if not tbc else last_seq_no
    end = last if last is not None else max(highest, seq_no)
    missing_count = max(end + 1, 0) - _count_upto(received, end) - (0 <= seq_no <= end)
    first: list[int] = []
    candidate = 0
    while len(first) < min(shown, missing_count):
        if candidate != seq_no and candidate not in received:
            first.append(candidate)
        candidate += 1
    return Placed(False, seq_no < highest, last, missing_count, tuple(first))


def _highest(received: Collection[int]) -> int:
    if isinstance(received, range):
        return received[-1] if received else -1
    return max(received, default=-1)


def _count_upto(received: Collection[int], end: int) -> int:
    """How many of ``received`` are in 0 … end."""
    if isinstance(received, range) and received.start == 0 and received.step == 1:
        return max(0, min(end + 1, received.stop))
    return sum(1 for s in received if 0 <= s <= end)


def find(session: Session, station_id: str, kind: str, request_id: int) -> ReportRequest | None:
    return session.exec(select(ReportRequest).where(ReportRequest.station_id == station_id,
                                                    ReportRequest.kind == kind,
                                                    ReportRequest.request_id == request_id)).first()


def requested(session: Session, station_id: str, kind: str, request_id: int, actor_name: str,
              subject: Mapping[str, Any] | None = None) -> ReportRequest:
    """Record the request before it leaves; refused (409) when its requestId is taken."""
    if find(session, station_id, kind, request_id) is not None:
        raise Conflict("report.request_id_taken", f"requestId {request_id} was already used for a {kind} of station "
                                                  f"{station_id}; each request needs its own",
                       details={"request_id": request_id})
    row = ReportRequest(station_id=station_id, kind=kind, request_id=request_id, requested_by=actor_name[:100],
                        subject=json_within(dict(subject or {}), SUBJECT_MAX))
    session.add(row)
    session.flush()
    return row


def json_within(value: Any, limit: int) -> str:
    """``value`` as JSON text of at most ``limit`` characters: kept whole or not at all, since a
    cut text could not be read back. A request the schema allows (thousands of componentVariables
    or ids, an idToken's additionalInfo) must not be refused for what its record can hold."""
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else json.dumps({"omitted": f"{len(text)} characters"})


def answered(session: Session, station_id: str, kind: str, request_id: int, status: str) -> ReportRequest | None:
    row = find(session, station_id, kind, request_id)
    if row is not None:
        row.status, row.answered_at = status, utcnow()
        session.add(row)
    return row


def unanswered(session: Session, station_id: str, kind: str, request_id: int, outcome: str) -> None:
    row = find(session, station_id, kind, request_id)
    if row is not None and row.status == REQUESTED:
        row.status = outcome
        session.add(row)


def part(session: Session, station_id: str, kind: str, request_id: int, seq_no: int | None, tbc: bool
         ) -> ReportRequest | None:
    """Count one part of the stream (``seq_no`` None: a stream without one, each part the next);
    None when we never sent that request."""
    row = find(session, station_id, kind, request_id)
    if row is None:
        return None
    if seq_no is None:
        seq_no = row.next_seq_no
    # The seqNos before it, as far as a counter knows them: once there is a gap it stays.
    if not place(seq_no, tbc, range(row.next_seq_no), shown=0).in_order:
        row.gap = True
    # Held within the column's 32 bits: a part at seqNo 2^31-1 has left a gap (counted) already.
    row.next_seq_no = max(row.next_seq_no, min(seq_no + 1, INT32_MAX))
    row.parts += 1
    row.last_part_at = utcnow()
    if not tbc:
        row.complete = not row.gap and row.parts == row.next_seq_no
    session.add(row)
    return row


def subject(row: ReportRequest) -> dict[str, Any]:
    return json.loads(row.subject)


def listed(session: Session, station_id: str, kind: str, *, limit: int = 100,
           before_id: int | None = None) -> list[ReportRequest]:
    """Newest first."""
    query = select(ReportRequest).where(ReportRequest.station_id == station_id, ReportRequest.kind == kind)
    if before_id is not None:
        query = query.where(ReportRequest.id < before_id)
    return list(session.exec(query.order_by(ReportRequest.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Stream:
    """One kind of request as api/csms/call_effects.py runs it: recorded before it leaves with
    the request's ``subject_keys`` (what was asked), then its answer's status, or how it ended
    without one."""

    kind: str
    subject_keys: tuple[str, ...] = ()

    def requested(self, session: Session, station_id: str, actor_name: str, payload: Mapping[str, Any]) -> None:
        asked = {key: payload[key] for key in self.subject_keys if payload.get(key) is not None}
        requested(session, station_id, self.kind, payload["requestId"], actor_name, asked)

    def answered(self, session: Session, station_id: str, payload: Mapping[str, Any], response: Mapping[str, Any],
                 _asked_by: str = "") -> None:
        answered(session, station_id, self.kind, payload["requestId"], response["status"])

    def unanswered(self, session: Session, station_id: str, payload: Mapping[str, Any], outcome: str) -> None:
        unanswered(session, station_id, self.kind, payload["requestId"], outcome)
