"""Presence and fencing on the real PostgreSQL (storage/presence.py, storage/advisory_locks.py):
who holds a station, under which epoch, and when a holder's claim stops counting; admission's
reading of it (api/cluster/holding.py HoldersElsewhere) when a second connection must be refused."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, text

from api.cluster.holding import HoldersElsewhere
from api.ocpp.admission.filters import (
    Candidate,
    ConnectAttempt,
    DuplicateConnection,
    DuplicateOnAnotherNode,
    Refused,
)
from api.ocpp.transport.connection import StationConnection
from api.ocpp.transport.registry import ConnectionRegistry
from storage import advisory_locks, presence
from storage.db import make_engine, session_scope
from storage.leases import LeaseOwner
from storage.presence import Holder

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(postgres_url):
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def run(engine, work):
    with session_scope(engine) as session:
        return work(session.connection())


def full_renewal(db, owner: LeaseOwner, lease_seconds: float) -> dict[str, int] | None:
    """A heartbeat's full read (api/cluster/holding.py): the lease extended, then every station
    the database gives the owner; None when another process took the owner's name over."""
    if presence.extend(db, owner, lease_seconds) is None:
        return None
    return presence.held_by(db, owner)


def test_each_claim_raises_the_epoch_and_only_the_latest_holder_is_live(engine):
    a, b = LeaseOwner.start("node-a"), LeaseOwner.start("node-b")
    run(engine, lambda db: presence.join(db, a, 30))
    run(engine, lambda db: presence.join(db, b, 30))
    assert run(engine, lambda db: presence.holder(db, "CS1")) is None

    first = run(engine, lambda db: presence.claim(db, a, "CS1"))
    assert run(engine, lambda db: presence.holder(db, "CS1")) == Holder("node-a", first)
    second = run(engine, lambda db: presence.claim(db, b, "CS1"))
    assert second == first + 1
    assert run(engine, lambda db: presence.holder(db, "CS1")) == Holder("node-b", second)

    # A's renewal no longer lists the station: A closes its stale connection (api/cluster/holding.py).
    assert run(engine, lambda db: full_renewal(db, a, 30)) == {}
    assert run(engine, lambda db: full_renewal(db, b, 30)) == {"CS1": second}
    # A's late release, made under the old epoch, changes nothing.
    assert not run(engine, lambda db: presence.release(db, a, "CS1", first))
    assert run(engine, lambda db: presence.holder(db, "CS1")) == Holder("node-b", second)
    assert run(engine, lambda db: presence.release(db, b, "CS1", second))
    assert run(engine, lambda db: presence.holder(db, "CS1")) is None
    # The epoch survives the release: the next claim is still newer than every earlier one.
    assert run(engine, lambda db: presence.claim(db, a, "CS1")) == second + 1


def test_concurrent_claims_get_distinct_epochs_and_one_holder(engine):
    owners = [LeaseOwner.start(f"node-{i}") for i in range(4)]
    for owner in owners:
        run(engine, lambda db, o=owner: presence.join(db, o, 30))
    with ThreadPoolExecutor(4) as pool:
        epochs = list(pool.map(lambda o: run(engine, lambda db: presence.claim(db, o, "CS2")), owners * 5))
    assert sorted(epochs) == list(range(1, 21))
    holder = run(engine, lambda db: presence.holder(db, "CS2"))
    assert holder.epoch == 20
    held = [o.node for o in owners if run(engine, lambda db, o=o: full_renewal(db, o, 30))]
    assert held == [holder.node]


def test_a_node_that_stops_renewing_loses_its_stations_with_its_lease(engine):
    a = LeaseOwner.start("node-a")
    run(engine, lambda db: presence.join(db, a, 0.5))
    run(engine, lambda db: presence.claim(db, a, "CS3"))
    assert run(engine, lambda db: presence.live(db)) == {"CS3": Holder("node-a", 1)}
    assert run(engine, presence.live_nodes) == {"node-a"}
    time.sleep(0.7)
    assert run(engine, lambda db: presence.holder(db, "CS3")) is None
    assert run(engine, lambda db: presence.live(db)) == {}
    assert run(engine, presence.live_nodes) == set()


def test_a_restarted_node_does_not_inherit_what_its_previous_process_held(engine):
    old = LeaseOwner.start("node-a")
    run(engine, lambda db: presence.join(db, old, 30))
    run(engine, lambda db: presence.claim(db, old, "CS4"))
    new = LeaseOwner.start("node-a")
    run(engine, lambda db: presence.join(db, new, 30))
    assert run(engine, lambda db: presence.holder(db, "CS4")) is None
    assert run(engine, lambda db: full_renewal(db, old, 30)) is None   # the old process learns it is out
    assert run(engine, lambda db: full_renewal(db, new, 30)) == {}


def test_a_clean_leave_frees_every_station_at_once(engine):
    a = LeaseOwner.start("node-a")
    run(engine, lambda db: presence.join(db, a, 30))
    for station in ("CS5", "CS6"):
        run(engine, lambda db, s=station: presence.claim(db, a, s))
    run(engine, lambda db: presence.leave(db, a))
    assert run(engine, lambda db: presence.live(db)) == {}
    assert run(engine, lambda db: db.execute(text("SELECT count(*) FROM cluster_node")).scalar_one()) == 0


async def admit(filters, station_id: str) -> Refused | None:
    """The refusal the filters give a connection of the station, in order; None: admitted."""
    candidate = Candidate(ConnectAttempt(f"/{station_id}", None, 2), identity=station_id)
    try:
        for check in filters:
            await check(candidate)
    except Refused as refused:
        return refused
    return None


async def test_admission_refuses_a_duplicate_only_while_another_node_holds_the_station_live(engine):
    here, a, dead = LeaseOwner.start("node-b"), LeaseOwner.start("node-a"), LeaseOwner.start("node-c")
    for owner, station in ((a, "CS7"), (dead, "CS8"), (here, "CS9")):
        run(engine, lambda db, o=owner: presence.join(db, o, 30))
        run(engine, lambda db, o=owner, s=station: presence.claim(db, o, s))
    # Node C died: its heartbeat stopped and its lease ran out.
    run(engine, lambda db: db.execute(text("UPDATE cluster_node SET lease_expires_at = now() - interval '1 second' "
                                           "WHERE node_id = 'node-c'")))
    registry = ConnectionRegistry()
    registry.register(StationConnection("CS9", 2, websocket=None, subprotocol="ocpp2.0.1"))
    holder_elsewhere = HoldersElsewhere(engine, "node-b")
    # Asked together (a reconnect storm), answered by one read, each its own answer.
    assert await asyncio.gather(*(holder_elsewhere(s) for s in ("CS7", "CS8", "CS9", "CS10"))) == \
        ["node-a", None, None, None]

    strict = [DuplicateConnection(registry, replace=False), DuplicateOnAnotherNode(holder_elsewhere, replace=False)]
    refused = await admit(strict, "CS7")
    assert (refused.rule, refused.status, refused.reason) == \
        ("connection.duplicate", 409, "station 'CS7' is already connected to node 'node-a'")
    assert await admit(strict, "CS8") is None, "a dead node's lease must not keep the station out"
    assert (await admit(strict, "CS9")).reason == "station 'CS9' is already connected", "the same-node rule"
    assert await admit(strict, "CS10") is None

    default = [DuplicateConnection(registry, replace=True), DuplicateOnAnotherNode(holder_elsewhere, replace=True)]
    assert [await admit(default, s) for s in ("CS7", "CS9")] == [None, None]


def test_an_advisory_lock_is_held_by_one_node_and_dropped_with_its_connection(engine, postgres_url):
    other = make_engine(postgres_url)
    try:
        with advisory_locks.hold(engine, "rotation:csms_root") as mine:
            assert mine
            with advisory_locks.hold(other, "rotation:csms_root") as theirs:
                assert not theirs
            with advisory_locks.hold(other, "rotation:server_certificate") as unrelated:
                assert unrelated
        with advisory_locks.hold(other, "rotation:csms_root") as theirs:
            assert theirs
        lock = advisory_locks.SessionLock(engine, "certificate-lifecycle-pass")
        assert lock.acquire()
        lock._connection.invalidate()   # the holder's connection is gone, as when its node dies
        lock._connection = None
        with advisory_locks.hold(other, "certificate-lifecycle-pass") as theirs:
            assert theirs
    finally:
        other.dispose()


# --- the heartbeat's reads (api/cluster/holding.py Holdings.renew) ---------------------------------

def test_claims_since_a_time_name_the_station_s_holder_now(engine):
    a, b = LeaseOwner.start("node-a"), LeaseOwner.start("node-b")
    for owner in (a, b):
        run(engine, lambda db, o=owner: presence.join(db, o, 30))
    run(engine, lambda db: presence.claim(db, a, "OLD"))
    since = run(engine, lambda db: presence.extend(db, a, 30))
    run(engine, lambda db: presence.claim(db, a, "NEW"))
    run(engine, lambda db: presence.claim(db, b, "OLD"))       # taken over since
    assert run(engine, lambda db: presence.claims_since(db, since)) == {
        "NEW": presence.Claim("node-a", a.process, 1), "OLD": presence.Claim("node-b", b.process, 2)}
    run(engine, lambda db: presence.join(db, LeaseOwner.start("node-a"), 30))   # a's name taken over
    assert run(engine, lambda db: presence.extend(db, a, 30)) is None


class _Connection:
    """What Holdings needs of a station's connection: its id, and being closed."""

    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.closed: tuple[int, str] | None = None

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


class _QuietBus:
    """NATS that carries nothing: every notice of a claim is lost."""

    async def publish(self, subject: str, message: dict) -> None:
        pass


async def test_the_heartbeat_closes_what_another_node_claimed_unheard_reading_only_recent_claims(engine):
    from types import SimpleNamespace

    from api.cluster.config import ClusterConfig
    from api.cluster.holding import FULL_READ_EVERY, Holdings

    a, b = LeaseOwner.start("node-a"), LeaseOwner.start("node-b")
    for owner in (a, b):
        run(engine, lambda db, o=owner: presence.join(db, o, 30))
    holdings = Holdings(SimpleNamespace(engine=engine), ClusterConfig("", "node-a", lease_seconds=30), a, _QuietBus())
    taken, old_take, kept = _Connection("TAKEN"), _Connection("OLD-TAKE"), _Connection("KEPT")
    for connection in (taken, old_take, kept):
        await holdings.claim(connection)
    await holdings.renew()                  # the first heartbeat reads in full: all three are a's
    assert holdings.held().keys() == {"TAKEN", "OLD-TAKE", "KEPT"}

    run(engine, lambda db: presence.claim(db, b, "TAKEN"))
    # A claim the recent-claims read cannot see (its time older than the window): the full read's.
    run(engine, lambda db: presence.claim(db, b, "OLD-TAKE"))
    run(engine, lambda db: db.execute(text("UPDATE station_presence SET claimed_at = now() - interval '1 hour' "
                                           "WHERE station_id = 'OLD-TAKE'")))
    read = []
    on_query = lambda *args: read.append(args[2])  # noqa: E731 - the statement
    event.listen(engine, "before_cursor_execute", on_query)
    try:
        await holdings.renew()
    finally:
        event.remove(engine, "before_cursor_execute", on_query)
    await asyncio.sleep(0)
    assert taken.closed == (1000, "replaced by a newer connection of this station")
    assert holdings.held().keys() == {"OLD-TAKE", "KEPT"}
    assert any("WHERE claimed_at" in statement for statement in read)
    assert not any("FROM station_presence WHERE node_id" in statement for statement in read), \
        "a heartbeat between full reads reads the recent claims, not every station the node holds"

    for _ in range(FULL_READ_EVERY - 2):
        await holdings.renew()
    assert old_take.closed is None          # not seen by the short reads
    await holdings.renew()                  # the full read, once a minute by default
    await asyncio.sleep(0)
    assert old_take.closed is not None and kept.closed is None
    assert holdings.held() == {"KEPT": 1}
