"""A real PostgreSQL outage while stations talk: the database refuses every connection (its open
ones terminated), then comes back. A SecurityEventNotification sent meanwhile is acknowledged,
kept in the (bounded) spool, and in the database once it is back; a BootNotification is answered Pending,
so the station boots again and is recorded then. A TransactionEvent Updated is acknowledged once
journaled (storage/write_behind.py) and stored once the database is back; one whose answer comes
from the store (an Ended) is answered InternalError, and stored when the station sends it again.
The connection stays usable throughout."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from authorization_support import transaction_event
from certificate_support import with_policy
from charging_support import stored
from conftest import PG_URL, make_pki
from ocpp_support import BOOT, open_csms
from sqlmodel import select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from api.core.audit import run_in_session
from storage.security_events import SecurityEvent
from storage.stations import Station

pytestmark = pytest.mark.postgres


@contextlib.contextmanager
def _outage(database_url: str) -> Iterator[None]:
    """The database takes no connection and loses the ones it has, until the block ends."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                      "AND pid <> pg_backend_pid()", (name,))
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@pytest.fixture
async def csms(tmp_path, postgres_url, monkeypatch) -> AsyncIterator:
    pki = with_policy(make_pki(tmp_path, postgres_url, monkeypatch), outage={"retry_seconds": 1, "max_spooled_events": 1})
    try:
        async for made in open_csms(pki):
            yield made
    finally:
        pki.ctx.engine.dispose()


def _events(csms) -> list[SecurityEvent]:
    return run_in_session(csms.ctx, lambda s: list(s.exec(
        select(SecurityEvent).where(SecurityEvent.source == "station").order_by(SecurityEvent.id))))


async def test_security_events_and_boots_in_a_database_outage_are_kept(csms, postgres_url):
    password = csms.add_station("CS-OUT")
    station = await csms.connect_raw("CS-OUT", password)
    await station.boot()
    with _outage(postgres_url):
        frame = await station.call("SecurityEventNotification", {
            "type": "TamperDetectionActivated", "timestamp": "2025-06-01T12:00:00Z", "techInfo": "lid opened"})
        assert frame == [3, frame[1], {}], frame  # acknowledged: the spool has it
        frame = await station.call("SecurityEventNotification", {
            "type": "ResetOrReboot", "timestamp": "2025-06-01T12:00:01Z"})
        assert frame[:3] == [4, frame[1], "InternalError"], frame  # the spool is full: the station keeps it
        frame = await station.call("Heartbeat", {})
        assert frame[0] == 3, frame
        rebooted = {**BOOT, "chargingStation": {**BOOT["chargingStation"], "firmwareVersion": "2.0"}}
        frame = await station.call("BootNotification", rebooted)
        assert frame[0] == 3 and frame[2]["status"] == "Pending", frame  # boot again later (B02)
        assert frame[2]["statusInfo"]["reasonCode"] == "ServiceUnavailable"
        await asyncio.sleep(1.5)  # the writer tries, and the database still refuses
        assert len(csms.gateway.spool) == 1
    await csms.until(lambda: len(csms.gateway.spool) == 0, timeout=10)
    (event,) = _events(csms)
    assert (event.station_id, event.type, event.tech_info, event.critical) == (
        "CS-OUT", "TamperDetectionActivated", "lid opened", True)
    assert event.occurred_at.isoformat().startswith("2025-06-01T12:00:00")
    frame = await station.call("BootNotification", rebooted)
    assert frame[0] == 3 and frame[2]["status"] == "Accepted", frame
    firmware = run_in_session(csms.ctx, lambda s: s.get(Station, "CS-OUT").firmware_version)
    assert firmware == "2.0"


async def test_transaction_events_in_a_database_outage_are_journaled_or_refused_and_none_is_lost(csms, postgres_url):
    password = csms.add_station("CS-TX-OUT")
    station = await csms.connect_raw("CS-TX-OUT", password)
    await station.boot()
    frame = await station.call("TransactionEvent", transaction_event("Started", "Authorized", 0, "TX-OUT"))
    assert frame[0] == 3, frame
    with _outage(postgres_url):
        for seq_no in (1, 2):
            frame = await station.call("TransactionEvent",
                                       transaction_event("Updated", "MeterValuePeriodic", seq_no, "TX-OUT"))
            assert frame == [3, frame[1], {}], frame   # acknowledged: journaled
        ended = transaction_event("Ended", "StopAuthorized", 3, "TX-OUT", stoppedReason="Local")
        frame = await station.call("TransactionEvent", ended)
        assert frame[:3] == [4, frame[1], "InternalError"], frame   # its answer needs the store
        await asyncio.sleep(1.5)   # the store tries again, and the database still refuses
        assert csms.gateway.write_behind.waiting == 2
    frame = await station.call("TransactionEvent", ended)   # the station sends it again
    assert frame[0] == 3, frame
    row, events, _values = await stored(csms, "CS-TX-OUT", "TX-OUT")
    assert [event.seq_no for event in events] == [0, 1, 2, 3]
    assert (row.seq_duplicates, row.seq_missing, row.stopped_reason) == (0, 0, "Local")


async def test_an_outage_is_logged_once_by_each_polling_loop_and_so_is_its_end(csms, postgres_url, caplog):
    """The disconnect watch polls every second: a traceback each time would bury the one that says why."""
    watch = "chargeca.ocpp.disconnects"
    with caplog.at_level(logging.INFO, logger="chargeca"):
        with _outage(postgres_url):
            await asyncio.sleep(3.5)
        await csms.until(lambda: any(r.name == watch and "works again" in r.getMessage() for r in caplog.records),
                         timeout=10)

    failed = [record for record in caplog.records if record.name == watch and record.levelno >= logging.ERROR]
    assert [record.getMessage() for record in failed] == ["looking for station disconnect requests failed"]
    assert failed[0].exc_info is not None


async def test_connects_answered_503_in_an_outage_are_logged_once_not_each(csms, postgres_url, caplog):
    """Each connect that admission could not look up logged an error: any client, or a fleet
    reconnecting, wrote the log at its own rate for as long as the database was away."""
    async def status(identity: str) -> int:
        try:
            async with connect(f"{csms.ws_url}/{identity}", subprotocols=["ocpp2.0.1"], proxy=None):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    with caplog.at_level(logging.INFO, logger="chargeca"):
        with _outage(postgres_url):
            assert [await status(f"CS-OUT-{n}") for n in range(20)] == [503] * 20

    # A line for each kind of failure (the connections of the pool cut, then new ones refused),
    # not one per connect.
    failed = [r for r in caplog.records if r.name == "chargeca.ocpp.listener" and r.levelno >= logging.ERROR]
    assert 1 <= len(failed) <= 3, [r.getMessage() for r in failed]
