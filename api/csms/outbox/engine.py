"""The outbox: sends stored CSMS calls to stations until each station answers.

One engine for every purpose of storage.outbox.OutboundCall row (certificate deliveries, renewal
requests, operator jobs); each purpose plugs in as a small kind (``Kind``), and which outcomes
end a row is declared per purpose in api/csms/outbox/purposes.py. One state machine:

    pending ──claim──▶ sent ──answer──▶ answered
       ▲                 │
       └──── retried ────┤──── final, refused, attempts used up ──▶ failed

Rows are sent by the node the station is connected to (booted Accepted or Pending; in cluster
mode the other nodes relay nothing of the outbox, they only ring, api/cluster/notices.py) when
the row is due: at once when a station becomes ready (gateway ``on_ready``), when something
rings the doorbell (api/csms/outbox/signal.py), and on a periodic scan that also finds rows
other nodes stored. A row is claimed (pending → sent) by exactly one sender, which holds it
under a lease (storage/leases.py) long enough for the calls it makes. A row left "sent" by a
process that died is due again: at once for the next process of the same node, and for any
node once the lease has expired. A row made due while its sender still waits (a station
resending its CSR, api/csms/security/certificate_resend.py) stays due whatever that sender's
call ends in, unless it ends in an answer.

Attempts are counted in one place: when a call's outcome is settled, and only for a call that
reached the station. That is the only moment the outcome is known: a call that never left
(station gone, still queued) is not the station failing us, and a process that dies mid-call
learns nothing — a rolling restart must not use up a delivery's attempts. ``max_attempts``
bounds how often a station is asked and fails to answer; a row whose sender keeps dying is sent
again on each restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import Session, select

from api.core.failure_log import FailureLog, woken_or_after
from api.core.refusal import Refusal
from api.csms.outbox import signal as outbox_signal
from api.csms.outbox.purposes import ENDINGS, FINAL
from api.ocpp.gateway import Gateway
from api.ocpp.session import ANSWERED, ERROR, TIMEOUT, CallOutcome, OcppSession
from api.ocpp.validation import SchemaViolation
from policies.delivery import may_try_again, retry_delay
from storage.batching import Batcher
from storage.db import read_scope, session_scope
from storage.filters import in_lists
from storage.leases import abandoned, release
from storage.outbox import CallStatus, OutboundCall, call_ids_by_station
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.outbox")

# A sender makes at most two calls per row (a kind may prepare with one, e.g. GetVariables), each
# bounded by the call timeout; the margin covers the database writes around them.
LEASE_MARGIN = timedelta(seconds=30)
REFUSED = "refused"   # Failure.status of a row refused before it left


class NotNow(Exception):
    """The kind could not get the row ready (e.g. a preparatory call went unanswered);
    ``sent``: whether something reached the station (it then counts as a call left unanswered)."""

    def __init__(self, description: str, *, sent: bool) -> None:
        super().__init__(description)
        self.sent = sent


@dataclass(frozen=True)
class Failure:
    """Why a row failed for good. ``status``: how its last call ended (error, timeout), or
    ``refused`` when a rule kept it from leaving; ``rule`` names the rule that ended it."""

    rule: str
    reason: str
    status: str
    error_code: str | None = None


class Kind:
    """What one purpose of outbox row means. The defaults send the stored payload as it is."""

    purpose: str

    def check(self, session: Session, row: OutboundCall) -> None:
        """In the claim's transaction, on the database's state of now: raise Refusal for a row
        that must not leave (it fails without being sent)."""

    async def prepare(self, gateway: Gateway, row: OutboundCall) -> dict[str, Any]:
        """The payload to send now; raises NotNow or Refusal."""
        return json.loads(row.payload)

    def answered(self, session: Session, row: OutboundCall, response: dict[str, Any], now: datetime) -> None:
        """Act on the station's answer, in the transaction that settles ``row``."""

    def failed(self, session: Session, row: OutboundCall, failure: Failure, now: datetime) -> None:
        """Act on the row failing for good, in the transaction that settles it."""


class Outbox:
    def __init__(self, gateway: Gateway, kinds: Sequence[Kind], *, clock: Callable[[], datetime] = utcnow,
                 scan_interval: float = 5.0) -> None:
        unknown = [kind.purpose for kind in kinds if kind.purpose not in ENDINGS]
        if unknown:
            raise ValueError(f"no endings declared for {unknown} in api/csms/outbox/purposes.py")
        self._gateway = gateway
        self._ctx = gateway.ctx
        self._kinds = {kind.purpose: kind for kind in kinds}
        self._clock = clock
        self._scan_interval = scan_interval
        self._owner = gateway.owner
        self._busy: set[str] = set()
        self._again: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task | None = None
        self._unlisten: Callable[[], None] | None = None
        self._closed = False
        # Every station that boots asks for its due rows: in a boot storm those reads share a
        # transaction instead of paying one each (storage/batching.py).
        self._find_due_rows = Batcher(self._due_rows_of)
        gateway.on_ready(self._station_ready)

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> "Outbox":
        self._unlisten = outbox_signal.listen(outbox_signal.event_waker(self._wake, asyncio.get_running_loop()))
        self._loop_task = asyncio.create_task(self._run(), name="outbox")
        return self

    async def _run(self) -> None:
        failures = FailureLog(log, "outbox scan")
        while True:
            self._wake.clear()
            await failures.attempt(self.run_due)
            await woken_or_after(self._wake, self._scan_interval)

    async def idle(self) -> None:
        """Wait until every station being served now is done (for tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        self._closed = True
        if self._unlisten:
            self._unlisten()
            self._unlisten = None
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- which rows, when ---------------------------------------------------------------------

    def _due(self, now: datetime):
        left = abandoned(OutboundCall, self._owner, now)
        if self._gateway.cluster is not None:
            # Rows are only ever looked up for stations connected here. A call another node sent
            # went out on a connection the station has since left for this node: its answer can
            # never come, whether that node is alive (it settles the row as unanswered and finds
            # it taken over, see _settle) or dead (no need to wait for its lease).
            left = or_(left, OutboundCall.lease_node != self._owner.node)
        return and_(OutboundCall.purpose.in_(list(self._kinds)),
                    or_(and_(OutboundCall.status == CallStatus.PENDING,
                             or_(OutboundCall.next_attempt_at == None,  # noqa: E711
                                 OutboundCall.next_attempt_at <= now)),
                        and_(OutboundCall.status == CallStatus.SENT, left)))

    def _due_stations(self, station_ids: list[str], now: datetime) -> list[str]:
        found: set[str] = set()
        with read_scope(self._ctx.engine) as session:
            for ids in in_lists(station_ids):
                found.update(session.exec(
                    select(OutboundCall.station_id).where(OutboundCall.station_id.in_(ids),
                                                          self._due(now)).distinct()).all())
        return sorted(found)

    def _due_rows_of(self, station_ids: list[str]) -> list[list[int]]:
        with read_scope(self._ctx.engine) as session:
            return call_ids_by_station(session, station_ids, self._due(self._clock()))

    async def run_due(self) -> None:
        """Start serving every connected station that has due rows (returns without waiting)."""
        connected = [session.station_id for session in self._gateway.sessions() if session.boot.ready]
        if not connected:
            return
        for station_id in await asyncio.to_thread(self._due_stations, connected, self._clock()):
            self._serve(station_id)

    async def _station_ready(self, session: OcppSession) -> None:
        self._serve(session.station_id)

    def _serve(self, station_id: str) -> None:
        if self._closed:
            return
        if station_id in self._busy:
            self._again.add(station_id)  # the running pass looks once more before it ends
            return
        self._busy.add(station_id)
        task = asyncio.create_task(self._serve_station(station_id), name=f"outbox-{station_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_station(self, station_id: str) -> None:
        # One station's rows in order, one at a time: its calls leave one by one anyway (P4 §4.1.1).
        try:
            while self._ready(station_id):
                self._again.discard(station_id)
                for row_id in await self._find_due_rows(station_id):
                    if not self._ready(station_id):
                        return
                    await self._process(row_id)
                if station_id not in self._again:
                    return
        except Exception:  # noqa: BLE001 - the rows stay in the database for the next pass
            log.exception("outbox delivery to %s failed", station_id)
        finally:
            self._busy.discard(station_id)
            self._again.discard(station_id)

    def _ready(self, station_id: str) -> bool:
        # Connected, and booted Accepted or Pending: CSMS calls before that are not allowed.
        session = self._gateway.session(station_id)
        return session is not None and session.boot.ready

    # --- one row --------------------------------------------------------------------------------

    def _lease(self, timeout: float | None) -> timedelta:
        return 2 * timedelta(seconds=max(timeout or 0, self._gateway.config.call_timeout)) + LEASE_MARGIN

    def _claim(self, row_id: int) -> OutboundCall | None:
        now = self._clock()
        with session_scope(self._ctx.engine) as session:
            if self._gateway.cluster is not None and not session.execute(
                    select(OutboundCall.id).where(OutboundCall.id == row_id).with_for_update(skip_locked=True)).first():
                return None  # another node is claiming it this instant: not ours, and no waiting for it
            claimed = session.execute(update(OutboundCall).where(OutboundCall.id == row_id, self._due(now))
                                      .values(status=CallStatus.SENT, updated_at=now,
                                              **self._owner.values(now + self._lease(None))))
            if claimed.rowcount != 1:
                return None  # another sender has it, or it is settled
            row = session.get(OutboundCall, row_id)
            kind = self._kinds[row.purpose]
            row.lease_expires_at = now + self._lease(row.answer_timeout)  # a job may wait longer for its answer
            session.add(row)
            try:
                # A row may leave long after it was stored: its rules decide on the state of now.
                kind.check(session, row)
            except Refusal as refusal:
                self._refused(session, kind, row, refusal.rule, str(refusal), now)
                return None
            return row

    async def _process(self, row_id: int) -> None:
        row = await asyncio.to_thread(self._claim, row_id)
        if row is None:
            return
        kind = self._kinds[row.purpose]
        try:
            payload = await kind.prepare(self._gateway, row)
            outcome = await self._gateway.send_call(row.station_id, row.action, payload, row.answer_timeout)
        except NotNow as exc:
            outcome = CallOutcome(TIMEOUT, description=str(exc), sent=exc.sent)
        except Refusal as exc:
            await asyncio.to_thread(self._refuse, row, kind, exc.rule, str(exc))
            return
        except SchemaViolation as exc:  # our bug; sending it again would not help
            await asyncio.to_thread(self._refuse, row, kind, "call.schema", exc.description)
            return
        await asyncio.to_thread(self._settle, row, kind, outcome)
        if not outcome.sent and self._ready(row.station_id):
            self._again.add(row.station_id)  # it waited behind other calls: its turn comes again now

    def _settle(self, row: OutboundCall, kind: Kind, outcome: CallOutcome) -> None:
        now = self._clock()
        answered = outcome.status == ANSWERED
        description = f"{outcome.error_code}: {outcome.description}" if outcome.error_code else outcome.description
        with session_scope(self._ctx.engine) as session:
            stored = session.get(OutboundCall, row.id)
            if stored is None or stored.status == CallStatus.ANSWERED:
                return  # deleted with its station, or a second sender got the answer first
            if not answered and not (stored.status == CallStatus.SENT and self._owner.holds(stored)):
                # Made due again while this call was out (a resent CSR): it stays due at once,
                # whoever sends it next; this attempt's outcome no longer decides when.
                log.info("%s for %s was made due again while in flight (%s)", stored.action, stored.station_id,
                         description)
                return
            stored.updated_at = now
            release(stored)
            session.add(stored)
            if outcome.sent:
                stored.attempts += 1
            if answered:
                stored.status, stored.response, stored.error = CallStatus.ANSWERED, json.dumps(outcome.response), None
                session.flush()
                kind.answered(session, stored, outcome.response, now)
                return
            stored.status, stored.error = CallStatus.PENDING, description[:500]
            if not outcome.sent:
                log.info("%s for %s waits for the station: %s", stored.action, stored.station_id, description)
                return
            endings = ENDINGS[stored.purpose]
            if (endings.callerror if outcome.status == ERROR else endings.no_answer) == FINAL:
                self._fail(session, kind, stored, Failure("outbox.final", description, outcome.status,
                                                          outcome.error_code), now, description)
                return
            allowed = may_try_again(self._ctx.policy.delivery, stored.attempts)
            if allowed:
                stored.next_attempt_at = now + retry_delay(self._ctx.policy.delivery, stored.attempts)
                log.info("%s for %s: attempt %d failed (%s); next at %s", stored.action, stored.station_id,
                         stored.attempts, description, stored.next_attempt_at.isoformat(timespec="seconds"))
                return
            self._fail(session, kind, stored,
                       Failure(allowed.rule, f"{stored.action} never answered ({description}); {allowed.reason}",
                               outcome.status, outcome.error_code), now, description)

    def _refuse(self, row: OutboundCall, kind: Kind, rule: str, reason: str) -> None:
        now = self._clock()
        with session_scope(self._ctx.engine) as session:
            stored = session.get(OutboundCall, row.id)
            if stored is not None:
                self._refused(session, kind, stored, rule, reason, now)

    def _refused(self, session: Session, kind: Kind, row: OutboundCall, rule: str, reason: str,
                 now: datetime) -> None:
        self._fail(session, kind, row, Failure(rule, f"{row.action} not sent: {reason}", REFUSED), now,
                   f"{rule}: {reason}")

    @staticmethod
    def _fail(session: Session, kind: Kind, row: OutboundCall, failure: Failure, now: datetime, error: str) -> None:
        row.status, row.error, row.updated_at = CallStatus.FAILED, error[:500], now
        release(row)
        session.add(row)
        session.flush()
        kind.failed(session, row, failure, now)
