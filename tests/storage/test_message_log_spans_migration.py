"""Migration 0022 on real SQLite and PostgreSQL: the per-station index of the message log gives way
to spans built from the frames already kept; the downgrade gives the index back."""

from __future__ import annotations

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


def _indexes(engine) -> set[str]:
    return {index["name"] for index in sa.inspect(engine).get_indexes("ocpp_message")}


def test_kept_frames_get_their_spans_and_the_station_index_goes(db_url):
    with back_at(db_url, "0021") as (config, engine):
        with engine.begin() as connection:
            connection.execute(_FRAMES.insert(), [
                {"id": frame_id, "station_id": station, "direction": "in", "kind": "CALL", "message_id": str(frame_id),
                 "action": "Heartbeat", "at": utcnow(), "size": 30, "frame": "[]", "truncated": False}
                for frame_id, station in ((5, "CS-1"), (6, "CS-2"), (65_540, "CS-1"), (300_000, "CS-1"))])
        assert "ix_ocpp_message_station_id" in _indexes(engine)
        command.upgrade(config, "0022")
        engine.dispose()
        assert "ix_ocpp_message_station_id" not in _indexes(engine)
        with session_scope(engine) as session:
            spans = session.connection().exec_driver_sql(
                "SELECT station_id, span FROM ocpp_message_span ORDER BY station_id, span").all()
            assert [tuple(row) for row in spans] == [("CS-1", 0), ("CS-1", 1), ("CS-1", 4), ("CS-2", 0)]
            assert [row.id for row in frames(session, MessageQuery(station_id="CS-1"), newest_first=True,
                                             beyond=None, limit=10)] == [300_000, 65_540, 5]
        command.downgrade(config, "0021")
        engine.dispose()
        assert "ix_ocpp_message_station_id" in _indexes(engine)
