"""A station's logged frames found through spans of ids, on real SQLite and PostgreSQL: every frame
of the station in order, whichever way a reader pages, however its frames are spread, and after
retention."""

from __future__ import annotations

import functools
import random
from datetime import timedelta

import pytest
from sqlmodel import func, select

from storage import message_log, message_log_append
from storage.db import session_scope
from storage.message_log import MessageQuery, OcppMessage, OcppMessageSpan, frames, insert_rows, prune
from storage.types import utcnow

pytestmark = pytest.mark.fast


@pytest.fixture
def small_spans(monkeypatch):
    """Spans of 4 ids, so that a few dozen frames cross many of them."""
    monkeypatch.setattr(message_log, "SPAN_IDS", 4)           # read and pruned by
    monkeypatch.setattr(message_log_append, "SPAN_IDS", 4)    # written by


def _row(station: str, n: int, action: str = "Heartbeat", age: timedelta = timedelta()) -> tuple:
    at = (utcnow() - age).timestamp()
    return (station, "in", "CALL", str(n), action, at, 30, f'[2,"{n}","{action}",{{}}]', False)


def _fleet(engine, stations: list[str]) -> list[tuple[int, str, str]]:
    """Batches of frames from ``stations`` in a random order; (id, station, action) of each."""
    chosen = random.Random(7)
    for start in range(0, 120, 40):
        rows = [_row(station, n, chosen.choice(["Heartbeat", "MeterValues"]))
                for n, station in ((n, chosen.choice(stations)) for n in range(start, start + 40))]
        with session_scope(engine) as session:
            insert_rows(session, rows)
    with session_scope(engine) as session:
        logged = session.exec(select(OcppMessage).order_by(OcppMessage.id))
        return [(row.id, row.station_id, row.action) for row in logged]


def _walk(engine, criteria: MessageQuery, *, newest_first: bool, limit: int) -> list[int]:
    seen: list[int] = []
    beyond = None
    while True:
        with session_scope(engine) as session:
            page = frames(session, criteria, newest_first=newest_first, beyond=beyond, limit=limit)
        assert len(page) <= limit
        seen.extend(row.id for row in page)
        if len(page) < limit:
            return seen
        beyond = page[-1].id


def test_a_stations_frames_are_read_whole_and_in_order_in_pages_either_way(engine, small_spans):
    logged = _fleet(engine, ["CS-A", "CS-B", "CS-C"])
    for station in ("CS-A", "CS-B", "CS-C"):
        expected = [frame_id for frame_id, owner, _ in logged if owner == station]
        assert len(expected) > 12, "the station's frames cross many spans"
        criteria = MessageQuery(station_id=station)
        assert _walk(engine, criteria, newest_first=False, limit=5) == expected
        assert _walk(engine, criteria, newest_first=True, limit=5) == expected[::-1]
        assert _walk(engine, criteria, newest_first=True, limit=1000) == expected[::-1]


def test_other_filters_apply_within_the_stations_spans(engine, small_spans):
    logged = _fleet(engine, ["CS-A", "CS-B"])
    expected = [frame_id for frame_id, owner, action in logged if owner == "CS-A" and action == "MeterValues"]
    assert _walk(engine, MessageQuery(station_id="CS-A", action="MeterValues"), newest_first=True, limit=3) \
        == expected[::-1]


def test_an_action_typed_in_another_case_finds_ocpps_action_and_any_other_is_matched_exactly(engine, small_spans):
    logged = _fleet(engine, ["CS-A", "CS-B"])
    expected = [frame_id for frame_id, owner, action in logged if owner == "CS-A" and action == "MeterValues"]
    assert expected
    assert _walk(engine, MessageQuery(station_id="CS-A", action="metervalues"), newest_first=True, limit=3) \
        == expected[::-1]
    # Not one of OCPP's: a malformed frame's action is read as it was sent.
    assert MessageQuery(action="meterValuesX").action == "meterValuesX"


def test_a_station_that_spoke_rarely_is_found_across_the_spans_it_was_absent_from(engine, small_spans):
    rows = [_row("CS-BUSY", n) for n in range(50)]
    rows[3] = _row("CS-QUIET", 3)
    rows[47] = _row("CS-QUIET", 47)
    with session_scope(engine) as session:
        insert_rows(session, rows)
        first = session.exec(select(func.min(OcppMessage.id))).one()
        quiet = session.exec(select(OcppMessageSpan.span).where(OcppMessageSpan.station_id == "CS-QUIET")).all()
    assert sorted(quiet) == sorted({(first + 3) // 4, (first + 47) // 4})   # a row per span it spoke in, no more
    assert _walk(engine, MessageQuery(station_id="CS-QUIET"), newest_first=True, limit=1) == [first + 47, first + 3]
    assert _walk(engine, MessageQuery(station_id="CS-NEVER"), newest_first=False, limit=10) == []


def test_a_stations_batch_notes_each_span_once(engine):
    with session_scope(engine) as session:
        insert_rows(session, [_row("CS-1", n) for n in range(500)])
        insert_rows(session, [_row("CS-1", n) for n in range(500, 1000)])
        assert session.exec(select(func.count()).select_from(OcppMessageSpan)).one() == 1


def test_retention_forgets_the_spans_it_emptied_and_keeps_the_rest_readable(engine, small_spans):
    with session_scope(engine) as session:
        insert_rows(session, [_row("CS-A" if n % 2 else "CS-B", n, age=timedelta(days=30)) for n in range(20)])
        insert_rows(session, [_row("CS-A" if n % 2 else "CS-B", n) for n in range(20, 30)])
    assert prune(functools.partial(session_scope, engine), older_than=timedelta(days=14), max_rows=1000, chunk=7) == 20
    with session_scope(engine) as session:
        oldest = session.exec(select(func.min(OcppMessage.id))).one()
        spans = session.exec(select(OcppMessageSpan.span)).all()
        kept = [row.id for row in session.exec(select(OcppMessage).where(OcppMessage.station_id == "CS-A")
                                              .order_by(OcppMessage.id))]
    assert spans and min(spans) == oldest // 4
    assert _walk(engine, MessageQuery(station_id="CS-A"), newest_first=False, limit=2) == kept
