"""The outbox engine's state machine on a real database (SQLite and PostgreSQL), without sockets.

The gateway is a stand-in that answers each call with the outcome the test scripts (what a
station's answer, silence, CALLERROR or absence looks like to the engine); everything the engine
writes — the rows, their leases and attempts, the audit entries — goes to the real database.
The clock is the test's: back-off and lease expiry are checked by moving it.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import Session, select

from api.csms.operator_calls import OperatorJobs
from api.csms.outbox.engine import Failure, Kind, Outbox
from api.csms.outbox.purposes import CERTIFICATE_DELIVERY
from api.ocpp.session import ANSWERED, ERROR, NOT_CONNECTED, TIMEOUT, CallOutcome
from policies.model import DeliveryPolicy, Policy
from storage.audit import AuditEntry
from storage.db import session_scope
from storage.leases import LeaseOwner
from storage.outbox import OutboundCall
from storage.stations import Station
from storage.types import utcnow

pytestmark = pytest.mark.fast

STATION = "CS-OUTBOX"
TRIGGER = {"requestedMessage": "Heartbeat"}
ACCEPTED = {"status": "Accepted"}


@dataclass
class Ready:
    station_id: str
    boot: Any = field(default_factory=lambda: SimpleNamespace(ready=True))


class Gateway:
    """What the engine uses of api.ocpp.gateway.Gateway; each call gets the next scripted outcome."""

    def __init__(self, ctx: Any, node: str = "node-a") -> None:
        self.ctx = ctx
        self.owner = LeaseOwner.start(node)
        self.config = SimpleNamespace(call_timeout=5)
        self.connected = {STATION}
        self.outcomes: deque[CallOutcome] = deque()
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.cluster = None   # one node (tests/cluster runs the engine on several)

    def on_ready(self, hook) -> None:
        pass

    def session(self, station_id: str) -> Ready | None:
        return Ready(station_id) if station_id in self.connected else None

    def sessions(self) -> list[Ready]:
        return [Ready(station_id) for station_id in self.connected]

    async def send_call(self, station_id: str, action: str, payload: dict[str, Any],
                        timeout: float | None = None) -> CallOutcome:
        outcome = self.outcomes.popleft()
        if outcome.sent:
            self.sent.append((action, payload))
        return outcome


class Delivery(Kind):
    """A kind of the certificate-delivery purpose that only records what the engine tells it."""

    purpose = CERTIFICATE_DELIVERY

    def __init__(self) -> None:
        self.answers: list[dict] = []
        self.failures: list[Failure] = []

    def answered(self, session: Session, row: OutboundCall, response: dict[str, Any], now: datetime) -> None:
        self.answers.append(response)

    def failed(self, session: Session, row: OutboundCall, failure: Failure, now: datetime) -> None:
        self.failures.append(failure)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Bench:
    engine: Any
    clock: Clock
    gateway: Gateway
    delivery: Delivery
    outbox: Outbox

    def store(self, action: str = "TriggerMessage", payload: dict | None = None, purpose: str = "operator",
              **columns: Any) -> int:
        with session_scope(self.engine) as session:
            row = OutboundCall(station_id=STATION, action=action, payload=json.dumps(payload or TRIGGER),
                               purpose=purpose, created_by="token:7", **columns)
            session.add(row)
            session.flush()
            return row.id

    def row(self, row_id: int) -> OutboundCall:
        with session_scope(self.engine) as session:
            return session.get(OutboundCall, row_id)

    def left_sent(self, row_id: int, holder: LeaseOwner, expires_in: timedelta) -> None:
        """The row as a sender leaves it while it waits for the answer."""
        with session_scope(self.engine) as session:
            row = session.get(OutboundCall, row_id)
            row.status = "sent"
            row.lease_node, row.lease_process = holder.node, holder.process
            row.lease_expires_at = self.clock.now + expires_in

    def results(self) -> list[dict]:
        with session_scope(self.engine) as session:
            return [json.loads(entry.detail) for entry in session.exec(
                select(AuditEntry).where(AuditEntry.action == "station.call.result").order_by(AuditEntry.seq))]

    async def run(self, *outcomes: CallOutcome) -> None:
        self.gateway.outcomes.extend(outcomes)
        await self.outbox.run_due()
        await self.outbox.idle()
        assert not self.gateway.outcomes, "every scripted outcome was used"

    def restarted(self, node: str = "node-a") -> "Bench":
        """The next process: same database, a new lease owner (node ``node``), a new engine."""
        gateway = Gateway(self.gateway.ctx, node)
        delivery = Delivery()
        return replace(self, gateway=gateway, delivery=delivery,
                       outbox=Outbox(gateway, [delivery, OperatorJobs()], clock=self.clock))


@pytest.fixture
def bench(engine) -> Bench:
    with session_scope(engine) as session:
        session.add(Station(id=STATION))
    ctx = SimpleNamespace(engine=engine, policy=Policy(delivery=DeliveryPolicy(max_attempts=3, backoff_seconds=30)))
    clock, gateway, delivery = Clock(), Gateway(ctx), Delivery()
    return Bench(engine, clock, gateway, delivery, Outbox(gateway, [delivery, OperatorJobs()], clock=clock))


def answered(response: dict | None = None) -> CallOutcome:
    return CallOutcome(ANSWERED, response=response or ACCEPTED, sent=True)


def callerror(code: str = "NotImplemented") -> CallOutcome:
    return CallOutcome(ERROR, error_code=code, description="not here", sent=True)


def silence() -> CallOutcome:
    return CallOutcome(TIMEOUT, description="no answer within 5 s", sent=True)


def absent() -> CallOutcome:
    return CallOutcome(NOT_CONNECTED, description="station not connected", sent=False)


async def test_an_answer_ends_the_row_after_one_attempt_and_audits_one_result(bench):
    job = bench.store()
    await bench.run(answered())
    row = bench.row(job)
    assert (row.status, json.loads(row.response), row.attempts, row.lease_node) == ("answered", ACCEPTED, 1, None)
    assert bench.results() == [{"action": "TriggerMessage", "status": "answered", "call_id": job,
                                "answer_status": "Accepted"}]
    await bench.run()  # nothing is due any more
    assert bench.gateway.sent == [("TriggerMessage", TRIGGER)]


async def test_a_callerror_ends_an_operator_job_but_a_delivery_waits_its_back_off(bench):
    job = bench.store()
    delivery = bench.store("CertificateSigned", {"certificateChain": "…"}, purpose=CERTIFICATE_DELIVERY)
    await bench.run(callerror(), callerror("InternalError"))
    failed, waiting = bench.row(job), bench.row(delivery)
    assert (failed.status, failed.error, failed.attempts) == ("failed", "NotImplemented: not here", 1)
    assert bench.results() == [{"action": "TriggerMessage", "status": "error", "error_code": "NotImplemented",
                                "call_id": job}]
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.next_attempt_at == bench.clock.now + timedelta(seconds=30)
    assert bench.delivery.failures == []


async def test_no_answer_is_tried_again_with_doubling_back_off_until_max_attempts(bench):
    job = bench.store()
    start = bench.clock.now
    for attempt, wait in ((1, 30), (2, 60)):
        await bench.run(silence())
        row = bench.row(job)
        assert (row.status, row.attempts, row.next_attempt_at) == ("pending", attempt, bench.clock.now +
                                                                    timedelta(seconds=wait))
        bench.clock.now += timedelta(seconds=wait - 1)
        await bench.run()  # not due yet
        bench.clock.now += timedelta(seconds=1)
    await bench.run(silence())
    row = bench.row(job)
    assert (row.status, row.attempts, row.error) == ("failed", 3, "no answer within 5 s")
    assert bench.clock.now == start + timedelta(seconds=90)
    assert bench.results() == [{"action": "TriggerMessage", "status": "timeout", "call_id": job}]
    assert len(bench.gateway.sent) == 3


async def test_a_delivery_that_uses_up_its_attempts_fails_with_the_rule_named(bench):
    delivery = bench.store("CertificateSigned", {"certificateChain": "…"}, purpose=CERTIFICATE_DELIVERY,
                           attempts=2)
    await bench.run(callerror("InternalError"))
    assert bench.row(delivery).status == "failed"
    (failure,) = bench.delivery.failures
    assert failure.rule == "delivery.max_attempts" and "CertificateSigned never answered" in failure.reason


async def test_a_call_that_never_reached_the_station_costs_no_attempt(bench):
    job = bench.store()
    bench.gateway.connected.clear()
    await bench.run()  # not connected: not even claimed
    bench.gateway.connected.add(STATION)
    await bench.run(absent(), answered())  # gone between the claim and the send; its turn comes again
    row = bench.row(job)
    assert (row.status, row.attempts) == ("answered", 1)
    assert len(bench.results()) == 1


async def test_a_row_left_sent_by_a_dead_process_of_this_node_is_sent_again_at_once(bench):
    job = bench.store()
    bench.left_sent(job, bench.gateway.owner, timedelta(minutes=5))
    bench = bench.restarted("node-a")
    await bench.run(answered())
    row = bench.row(job)
    assert (row.status, row.attempts) == ("answered", 1)
    assert bench.results() == [{"action": "TriggerMessage", "status": "answered", "call_id": job,
                                "answer_status": "Accepted"}]


async def test_another_node_takes_a_row_over_only_when_its_lease_has_expired(bench):
    job = bench.store()
    bench.left_sent(job, bench.gateway.owner, timedelta(minutes=1))
    other = bench.restarted("node-b")
    await other.run()  # node-a may still be waiting for the answer
    assert other.row(job).status == "sent" and other.gateway.sent == []
    other.clock.now += timedelta(minutes=1, seconds=1)
    await other.run(answered())
    assert other.row(job).status == "answered" and len(other.gateway.sent) == 1


async def test_a_row_made_due_again_while_its_call_was_out_stays_due_whatever_that_call_ends_in(bench):
    """A station resending its CSR makes its delivery due at once: the timeout of the call that
    was out must not push the row into a back-off nor count an attempt."""
    job = bench.store()
    row = bench.outbox._claim(job)
    with session_scope(bench.engine) as session:  # what certificate_resend.redeliver does
        stored = session.get(OutboundCall, job)
        stored.status, stored.lease_node, stored.lease_process, stored.lease_expires_at = "pending", None, None, None
    bench.outbox._settle(row, OperatorJobs(), silence())
    assert (bench.row(job).status, bench.row(job).attempts, bench.row(job).next_attempt_at) == ("pending", 0, None)


async def test_a_stored_job_refused_as_it_leaves_fails_without_being_sent(bench):
    job = bench.store("CertificateSigned", {"certificateChain": "not a chain", "certificateType":
                                            "ChargingStationCertificate"})
    await bench.run()
    row = bench.row(job)
    assert row.status == "failed" and row.error.startswith("call.certificate_signed.chain: ")
    assert bench.gateway.sent == []
    assert bench.results() == [{"action": "CertificateSigned", "status": "refused",
                                "error_code": "call.certificate_signed.chain", "call_id": job}]


def test_a_kind_whose_purpose_has_no_declared_endings_is_refused():
    class Unknown(Kind):
        purpose = "carrier_pigeon"

    with pytest.raises(ValueError, match="carrier_pigeon"):
        Outbox(Gateway(ctx=None), [Unknown()])
