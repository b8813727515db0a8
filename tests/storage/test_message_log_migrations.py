"""The message log's migrations on real SQLite and PostgreSQL: 0022, the per-station index gives
way to spans built from the frames already kept; 0023, the time index gives way to a row per write
(batches), built for the frames already kept. Each downgrade gives its index back."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from migrated_template import back_at

from storage.db import session_scope
from storage.message_log import MessageQuery, frames
from storage.types import UtcDateTime, utcnow

pytestmark = pytest.mark.fast

_FRAMES = sa.table("ocpp_message", sa.column("at", UtcDateTime(timezone=True)), *(sa.column(name) for name in (
    "id", "station_id", "direction", "kind", "message_id", "action", "size", "frame", "truncated")))


def _keep(engine, kept: list[tuple]) -> None:
    """Frames (id, station, time) as the revision before kept them."""
    with engine.begin() as connection:
        connection.execute(_FRAMES.insert(), [
            {"id": frame_id, "station_id": station, "direction": "in", "kind": "CALL", "message_id": str(frame_id),
             "action": "Heartbeat", "at": at, "size": 30, "frame": "[]", "truncated": False}
            for frame_id, station, at in kept])


def _indexes(engine) -> set[str]:
    return {index["name"] for index in sa.inspect(engine).get_indexes("ocpp_message")}


def _migrate(config, engine, revision: str, *, dropping: str | None = None, restoring: str | None = None) -> None:
    """Up or down to ``revision``, which drops the index ``dropping`` or gives ``restoring`` back."""
    index = dropping or restoring
    assert (index in _indexes(engine)) is bool(dropping)
    (command.upgrade if dropping else command.downgrade)(config, revision)
    engine.dispose()
    assert (index in _indexes(engine)) is bool(restoring)


def _rows(session, sql: str) -> list[tuple]:
    return [tuple(row) for row in session.connection().exec_driver_sql(sql).all()]


def test_kept_frames_get_their_spans_and_the_station_index_goes(db_url):
    with back_at(db_url, "0021") as (config, engine):
        now = utcnow()
        _keep(engine, [(frame_id, station, now)
                       for frame_id, station in ((5, "CS-1"), (6, "CS-2"), (65_540, "CS-1"), (300_000, "CS-1"))])
        _migrate(config, engine, "0022", dropping="ix_ocpp_message_station_id")
        with session_scope(engine) as session:
            spans = _rows(session, "SELECT station_id, span FROM ocpp_message_span ORDER BY station_id, span")
            assert spans == [("CS-1", 0), ("CS-1", 1), ("CS-1", 4), ("CS-2", 0)]
            assert [row.id for row in frames(session, MessageQuery(station_id="CS-1"), newest_first=True,
                                             beyond=None, limit=10)] == [300_000, 65_540, 5]
        _migrate(config, engine, "0021", restoring="ix_ocpp_message_station_id")


def test_kept_frames_get_batches_and_stay_found_by_time_and_the_time_index_goes(db_url):
    now = utcnow()
    kept = ((5, now - timedelta(days=3)), (6, now - timedelta(days=2)), (70_000, now - timedelta(hours=1)),
            (70_001, now))
    with back_at(db_url, "0022") as (config, engine):
        _keep(engine, [(frame_id, "CS-1", at) for frame_id, at in kept])
        _migrate(config, engine, "0023", dropping="ix_ocpp_message_at")
        with session_scope(engine) as session:
            assert _rows(session, "SELECT first_id, last_id FROM ocpp_message_batch ORDER BY first_id") == [
                (5, 6), (70_000, 70_001)]

            def logged(since, until) -> list[int]:
                return [row.id for row in frames(session, MessageQuery(since=since, until=until), newest_first=False,
                                                 beyond=None, limit=10)]

            assert logged(now - timedelta(days=2, hours=1), now - timedelta(minutes=1)) == [6, 70_000]
            assert logged(now - timedelta(days=1), None) == [70_000, 70_001]
            assert logged(None, now - timedelta(days=2, hours=1)) == [5]
            assert logged(now + timedelta(minutes=1), None) == []
        _migrate(config, engine, "0022", restoring="ix_ocpp_message_at")
