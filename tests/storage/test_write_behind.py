"""Writes stored behind their answers (storage/write_behind.py), on real SQLite and PostgreSQL
databases (the ``engine`` fixture) and a real journal file: a journaled write is answered before
it is stored and stored exactly once, across a stop without storing; the order holds; an outage
delays, never loses; a write that can never be stored is kept aside; past the journal's bound,
writes wait for the store."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from durable_writes import DurableWrites, DurableWritesInHelper
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from storage.db import DatabaseUnavailable, session_scope
from storage.journal import JournalMark
from storage.stations import Station
from storage.write_behind import Journaling, WriteBehind

pytestmark = pytest.mark.fast


class Store:
    """Stores each write (a station id) as a Station row; records the groups it was handed."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.refuse: set[str] = set()     # writes that can never be stored
        self.outage = 0                   # groups to fail as a database gone away would

    def __call__(self, session, items: list[str]) -> list[str]:
        self.groups.append(list(items))
        if self.outage:
            self.outage -= 1
            raise OperationalError("INSERT", {}, ConnectionError("server closed the connection"))
        if refused := self.refuse.intersection(items):
            raise ValueError(f"cannot store {sorted(refused)}")
        for item in items:
            session.add(Station(id=item, security_profile=1))
        session.flush()
        return [f"stored {item}" for item in items]


def _stored(engine) -> list[str]:
    with session_scope(engine) as session:
        return sorted(session.exec(select(Station.id)))


def _journaling(tmp_path, max_entries: int = 1000, sync_to_disk: bool = False) -> Journaling[str]:
    return Journaling(tmp_path / "journal" / "writes.jsonl", "writes/test", max_entries, sync_to_disk,
                      restore=json.loads)


async def _behind(engine, store: Store, journaling: Journaling[str] | None, *, store_within: float = 0.2,
                  gather: float = 0.005) -> WriteBehind[str, str]:
    return await WriteBehind(engine, store, journaling=journaling, store_within=store_within, gather=gather).start()


async def _left_in_journal(engine, tmp_path, bodies: list[str]) -> None:
    """``bodies`` journaled and answered, then the store stopped before storing them (as a killed
    process is)."""
    behind = await _behind(engine, Store(), _journaling(tmp_path), store_within=30)
    for body in bodies:
        await behind.put("never stored", body)
    await behind.aclose(wait=0)
    assert _stored(engine) == []


async def test_a_journaled_write_is_answered_before_it_is_stored_and_read_once_settled(engine, tmp_path):
    store = Store()
    behind = await _behind(engine, store, _journaling(tmp_path), store_within=30)
    try:
        assert await behind.put("CP_1", json.dumps("CP_1")) is None   # answered: journaled
        assert _stored(engine) == [] and behind.waiting == 1
        await behind.settled()                                        # a reader: stored first
        assert _stored(engine) == ["CP_1"]
        with session_scope(engine) as session:
            assert session.get(JournalMark, "writes/test").stored_through == 1
    finally:
        await behind.aclose()


async def test_writes_are_stored_in_the_order_they_came_whether_answered_or_waiting(engine, tmp_path):
    store = Store()
    behind = await _behind(engine, store, _journaling(tmp_path), store_within=30)
    try:
        for item in ("CP_1", "CP_2"):
            assert await behind.put(item, json.dumps(item)) is None
        # A write whose answer comes from the store: its group leaves after the gather, with
        # every write queued before it, not the 30 s the journaled ones may wait.
        assert await asyncio.wait_for(behind.put("CP_3"), 5) == "stored CP_3"
        assert store.groups == [["CP_1", "CP_2", "CP_3"]]
    finally:
        await behind.aclose()


async def test_entries_answered_and_never_stored_are_stored_once_at_the_next_start(engine, tmp_path):
    await _left_in_journal(engine, tmp_path, ['"CP_1"', '"CP_2"', '"CP_3"'])
    store = Store()
    for _start in range(2):       # the second start finds them stored: nothing again
        again = await _behind(engine, store, _journaling(tmp_path))
        await again.settled()
        await again.aclose()
        assert _stored(engine) == ["CP_1", "CP_2", "CP_3"]
    assert store.groups == [["CP_1", "CP_2", "CP_3"]]


async def test_while_the_database_is_away_journaled_writes_wait_and_a_waiting_one_gets_the_error(engine,
                                                                                                tmp_path):
    store = Store()
    behind = await _behind(engine, store, _journaling(tmp_path), store_within=0.01)
    try:
        store.outage = 3
        assert await behind.put("CP_1", json.dumps("CP_1")) is None
        with pytest.raises(DatabaseUnavailable):
            await behind.put("CP_2")   # its station is answered the error and sends it again
        await asyncio.wait_for(behind.settled(), 5)
        assert _stored(engine) == ["CP_1"]
        assert store.outage == 0 and store.groups[-1] == ["CP_1"]
    finally:
        await behind.aclose()


async def test_a_write_that_cannot_be_stored_is_kept_aside_and_the_others_of_its_group_are_stored(engine,
                                                                                                  tmp_path):
    store = Store()
    store.refuse = {"CP_BAD"}
    journaling = _journaling(tmp_path)
    behind = await _behind(engine, store, journaling, store_within=30)
    try:
        for item in ("CP_1", "CP_BAD", "CP_2"):
            await behind.put(item, json.dumps(item))
        await behind.settled()
        assert _stored(engine) == ["CP_1", "CP_2"]
        assert behind.waiting == 0
        aside = (journaling.path.parent / "writes.jsonl.rejected").read_text().splitlines()
        assert json.loads(aside[0])["seq"] == 2 and "cannot store" in json.loads(aside[0])["error"]
        assert aside[1] == '"CP_BAD"'
    finally:
        await behind.aclose()


async def test_past_the_journals_bound_a_write_waits_for_the_store(engine, tmp_path):
    store = Store()
    behind = await _behind(engine, store, _journaling(tmp_path, max_entries=2), store_within=30)
    try:
        assert await behind.put("CP_1", json.dumps("CP_1")) is None
        assert await behind.put("CP_2", json.dumps("CP_2")) is None
        assert await asyncio.wait_for(behind.put("CP_3", json.dumps("CP_3")), 5) == "stored CP_3"
        assert _stored(engine) == ["CP_1", "CP_2", "CP_3"]
    finally:
        await behind.aclose()


@pytest.mark.parametrize("in_process", [True, False], ids=["helper-process", "thread"])
async def test_with_sync_to_disk_a_write_is_answered_once_its_entry_is_on_disk(engine, tmp_path, monkeypatch,
                                                                               in_process):
    # The entries in the file at each durable point, wherever the sync runs.
    durable = DurableWritesInHelper(monkeypatch, tmp_path / "synced.jsonl") if in_process \
        else DurableWrites(monkeypatch)
    journaling = replace(_journaling(tmp_path, sync_to_disk=True), sync_in_process=in_process)
    behind = await _behind(engine, Store(), journaling, store_within=30)
    try:
        await asyncio.gather(*(behind.put(f"CP_{n}", json.dumps(f"CP_{n}")) for n in range(5)))
        synced = durable.synced
        assert synced and [line.split(" ")[1] for line in synced[-1]] == [f'"CP_{n}"' for n in range(5)]
        assert len(synced) < 5   # shared by the writes of the moment
    finally:
        await behind.aclose()


async def test_a_start_that_answers_nothing_early_still_stores_what_an_earlier_run_journaled(engine, tmp_path):
    await _left_in_journal(engine, tmp_path, ['"CP_1"'])
    again = await _behind(engine, Store(), _journaling(tmp_path), store_within=0)   # write-behind turned off
    try:
        await again.settled()
        assert _stored(engine) == ["CP_1"]
        assert await again.put("CP_2", json.dumps("CP_2")) == "stored CP_2"   # stored before its answer
    finally:
        await again.aclose()


async def test_an_entry_this_version_cannot_read_is_kept_aside_and_the_others_are_stored(engine, tmp_path):
    await _left_in_journal(engine, tmp_path, ['"CP_1"', '{"not": "a station id"}', '"CP_2"'])

    def strict(body: str) -> str:
        value = json.loads(body)
        if not isinstance(value, str):
            raise TypeError(f"not a write: {body}")
        return value

    journaling = Journaling(_journaling(tmp_path).path, "writes/test", 1000, False, restore=strict)
    again = await _behind(engine, Store(), journaling)
    try:
        await again.settled()
        assert _stored(engine) == ["CP_1", "CP_2"]
        aside = (journaling.path.parent / "writes.jsonl.rejected").read_text().splitlines()
        assert "not a write" in json.loads(aside[0])["error"] and aside[1] == '{"not": "a station id"}'
    finally:
        await again.aclose()
