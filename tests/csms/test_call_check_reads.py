"""An operator's call that records nothing before it leaves is checked in a read: on SQLite it
does not wait for the write lock the stations' writes hold (a group commit, the message log)."""

from __future__ import annotations

import sqlite3

import pytest
from fake_connection import register
from sqlalchemy import event

from api.core.audit import Actor
from api.csms import call_effects
from api.csms.call_records import check_station_call
from storage.db import DatabaseUnavailable

pytestmark = pytest.mark.fast

OPERATOR = Actor("token:op", "operator")
TRIGGER = {"requestedMessage": "Heartbeat"}


def _checks(_session, station, action, payload) -> None:
    assert station.id == "CS-CHECK" and action == "TriggerMessage" and payload == TRIGGER


def test_a_call_that_records_nothing_is_checked_while_a_writer_holds_the_lock(ctx):
    assert not call_effects.has_request_effect("TriggerMessage")
    assert call_effects.has_request_effect("RequestStartTransaction")   # remote starts are recorded first
    register(ctx, "CS-CHECK")
    ctx.engine.dispose()

    @event.listens_for(ctx.engine, "connect")
    def _impatient(dbapi_connection, _record):  # after the engine's own: a 50 ms wait, not 30 s
        dbapi_connection.execute("PRAGMA busy_timeout=50")

    holder = sqlite3.connect(ctx.engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        detail = check_station_call(ctx, OPERATOR, "CS-CHECK", "TriggerMessage", TRIGGER, check=_checks,
                                    writes=False)
        assert detail == {"action": "TriggerMessage", "mode": "sync", "role": "operator"}
        # A check that records the request needs the lock, and is told it is held.
        with pytest.raises(DatabaseUnavailable, match="locked"):
            check_station_call(ctx, OPERATOR, "CS-CHECK", "TriggerMessage", TRIGGER, check=_checks)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
