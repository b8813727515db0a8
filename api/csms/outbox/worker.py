"""The outbox worker: sends stored CSMS calls to stations until each station answers.

Rows (storage.outbox.OutboundCall) of the purposes it is given are sent when their station is
connected to this node and the row is due: at once when a station becomes ready (gateway
``on_ready``), when something rings the doorbell (api/csms/outbox/signal.py), and on a periodic
scan that also finds rows other nodes stored. A row is claimed (pending → sent) by exactly one
sender, which holds it under a lease (storage/leases.py) long enough for the calls it makes. A
row left "sent" by a process that died is due again: at once for the next process of the same
node, and for any node once the lease has expired. A row made due while its sender still waits
(a station resending its CSR, api/csms/security/certificate_resend.py) stays due whatever that sender's
call ends in, unless it ends in an answer.

After a call: an answer settles the row (its kind decides what the answer means); no answer
or a CALLERROR is a failed attempt, retried after ``[delivery] backoff_seconds`` doubling, up
to ``[delivery] max_attempts``, then the row fails with an alert; a call that never reached the
station (it disconnected) costs no attempt and waits for the next connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, or_, update
from sqlmodel import Session, select

from api.csms.outbox import signal as outbox_signal
from api.csms.security.alerts import raise_alert
from api.ocpp.gateway import Gateway
from api.ocpp.session import ANSWERED, OcppSession
from api.ocpp.validation import SchemaViolation
from policies.delivery import may_try_again, retry_delay
from storage.batching import Batcher
from storage.db import read_scope, session_scope
from storage.leases import abandoned, release
from storage.outbox import CallStatus, OutboundCall, call_ids_by_station
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.outbox")

ACTOR = "system:outbox"
# A sender makes at most two calls per row (a kind may prepare with one, e.g. GetVariables), each
# bounded by the call timeout; the margin covers the database writes around them.
LEASE_MARGIN = timedelta(seconds=30)


class NotNow(Exception):
    """The kind could not get the row ready (e.g. a preparatory call went unanswered);
    ``sent``: whether that costs an attempt (something reached the station)."""

    def __init__(self, description: str, *, sent: bool) -> None:
        super().__init__(description)
        self.sent = sent


class Refuse(Exception):
    """The row must never be sent: it fails at once, with an alert of ``event_type``."""

    def __init__(self, event_type: str, rule: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.event_type, self.rule, self.reason = event_type, rule, reason


class OutboxKind(Protocol):
    """What a purpose of outbox row means."""

    purpose: str
    failure_event: str   # alert type when the station never answers

    async def prepare(self, gateway: Gateway, row: OutboundCall) -> dict[str, Any]:
        """The payload to send now; raises NotNow or Refuse."""

    def answered(self, session: Session, row: OutboundCall, response: dict[str, Any], now: datetime) -> None:
        """Act on the station's answer, in the transaction that settles ``row``."""


class OutboxWorker:
    def __init__(self, gateway: Gateway, kinds: Sequence[OutboxKind], *,
                 clock: Callable[[], datetime] = utcnow, scan_interval: float = 5.0,
                 lease: timedelta | None = None) -> None:
        self._gateway = gateway
        self._ctx = gateway.ctx
        self._kinds = {kind.purpose: kind for kind in kinds}
        self._clock = clock
        self._scan_interval = scan_interval
        self._owner = gateway.owner
        self._lease = lease or 2 * timedelta(seconds=gateway.config.call_timeout) + LEASE_MARGIN
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

    def start(self) -> None:
        self._unlisten = outbox_signal.listen(outbox_signal.event_waker(self._wake, asyncio.get_running_loop()))
        self._loop_task = asyncio.create_task(self._run(), name="outbox-worker")

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_due()
            except Exception:  # noqa: BLE001 - the next scan tries again
                log.exception("outbox scan failed")
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                # arrives as the wait ends, and the worker would never stop.
                async with asyncio.timeout(self._scan_interval):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def idle(self) -> None:
        """Wait until every station being served now is done (for tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        self._closed = True
        if self._unlisten:
            self._unlisten()
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- which rows, when ---------------------------------------------------------------------

    def _due(self, now: datetime):
        return or_(and_(OutboundCall.status == CallStatus.PENDING,
                        or_(OutboundCall.next_attempt_at == None, OutboundCall.next_attempt_at <= now)),  # noqa: E711
                   and_(OutboundCall.status == CallStatus.SENT, abandoned(OutboundCall, self._owner, now)))

    def _due_stations(self, station_ids: list[str], now: datetime) -> list[str]:
        found: set[str] = set()
        with read_scope(self._ctx.engine) as session:
            for start in range(0, len(station_ids), 500):
                found.update(session.exec(
                    select(OutboundCall.station_id).where(OutboundCall.purpose.in_(list(self._kinds)),
                                                          OutboundCall.station_id.in_(station_ids[start:start + 500]),
                                                          self._due(now)).distinct()).all())
        return sorted(found)

    def _due_rows_of(self, station_ids: list[str]) -> list[list[int]]:
        with read_scope(self._ctx.engine) as session:
            return call_ids_by_station(session, station_ids, OutboundCall.purpose.in_(list(self._kinds)),
                                       self._due(self._clock()))

    def _write(self, work):
        with session_scope(self._ctx.engine) as session:
            return work(session)

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

    def _claim(self, row_id: int) -> OutboundCall | None:
        now = self._clock()

        def claim(session: Session) -> OutboundCall | None:
            claimed = session.execute(update(OutboundCall)
                                      .where(OutboundCall.id == row_id, self._due(now))
                                      .values(status=CallStatus.SENT, updated_at=now,
                                              **self._owner.values(now + self._lease)))
            return session.get(OutboundCall, row_id) if claimed.rowcount == 1 else None
        return self._write(claim)

    async def _process(self, row_id: int) -> None:
        row = await asyncio.to_thread(self._claim, row_id)
        if row is None:
            return  # another sender has it, or it is settled
        kind = self._kinds[row.purpose]
        try:
            payload = await kind.prepare(self._gateway, row)
            outcome = await self._gateway.send_call(row.station_id, row.action, payload)
        except NotNow as exc:
            await asyncio.to_thread(self._settle, row, kind, None, str(exc), exc.sent)
            return
        except Refuse as exc:
            await asyncio.to_thread(self._refuse, row, exc)
            return
        except SchemaViolation as exc:  # our bug; sending it again would not help
            await asyncio.to_thread(self._refuse, row, Refuse(kind.failure_event, "call.schema", exc.description))
            return
        if outcome.status == ANSWERED:
            await asyncio.to_thread(self._settle, row, kind, outcome.response, "", True)
        else:
            description = f"{outcome.error_code}: {outcome.description}" if outcome.error_code else outcome.description
            await asyncio.to_thread(self._settle, row, kind, None, description, outcome.sent)

    def _settle(self, row: OutboundCall, kind: OutboxKind, response: dict[str, Any] | None, description: str,
                sent: bool) -> None:
        now = self._clock()
        with session_scope(self._ctx.engine) as session:
            stored = session.get(OutboundCall, row.id)
            if stored.status == CallStatus.ANSWERED:
                return  # a second sender (it was made due again meanwhile) got the answer first
            if response is None and not (stored.status == CallStatus.SENT and self._owner.holds(stored)):
                # Made due again while this call was out (a resent CSR): it stays due at once,
                # whoever sends it next; this attempt's outcome no longer decides when.
                log.info("%s for %s was made due again while in flight (%s)", stored.action, stored.station_id,
                         description)
                return
            stored.updated_at = now
            release(stored)
            session.add(stored)
            if response is not None:
                stored.status, stored.response, stored.error = CallStatus.ANSWERED, json.dumps(response), None
                stored.attempts += 1
                session.flush()
                kind.answered(session, stored, response, now)
                return
            stored.status, stored.error = CallStatus.PENDING, description[:500]
            if not sent:
                log.info("%s for %s waits for the station: %s", stored.action, stored.station_id, description)
                return
            stored.attempts += 1
            allowed = may_try_again(self._ctx.policy.delivery, stored.attempts)
            if allowed:
                stored.next_attempt_at = now + retry_delay(self._ctx.policy.delivery, stored.attempts)
                log.info("%s for %s: attempt %d failed (%s); next at %s", stored.action, stored.station_id,
                         stored.attempts, description, stored.next_attempt_at.isoformat(timespec="seconds"))
                return
            stored.status = CallStatus.FAILED
            raise_alert(session, station_id=stored.station_id, event_type=kind.failure_event, rule=allowed.rule,
                        reason=f"{stored.action} never answered ({description}); {allowed.reason}", actor=ACTOR,
                        detail={"call_id": stored.id, "action": stored.action})

    def _refuse(self, row: OutboundCall, refusal: Refuse) -> None:
        with session_scope(self._ctx.engine) as session:
            stored = session.get(OutboundCall, row.id)
            stored.status, stored.error, stored.updated_at = CallStatus.FAILED, str(refusal)[:500], self._clock()
            release(stored)
            session.add(stored)
            raise_alert(session, station_id=stored.station_id, event_type=refusal.event_type, rule=refusal.rule,
                        reason=f"{stored.action} not sent: {refusal.reason}", actor=ACTOR,
                        detail={"call_id": stored.id, "action": stored.action})
