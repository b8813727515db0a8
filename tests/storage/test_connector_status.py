"""Connector states and their history stay bounded per station, whatever a station sends."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from migrated_template import migrate_for_test
from sqlmodel import func, select

from storage import connector_status
from storage.connector_status import AVAILABILITY, PROBLEM, ConnectorStatusEvent
from storage.db import make_engine, session_scope

pytestmark = pytest.mark.fast

_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def engine(db_url):
    migrate_for_test(db_url)
    made = make_engine(db_url)
    yield made
    made.dispose()


def _record(session, station, evse, connector, value="Available", **kw):
    return connector_status.record(session, station, evse, connector, kind=kw.pop("kind", AVAILABILITY),
                                   value=value, source="StatusNotification", reported_at=_AT, **kw)


def test_states_and_history_are_bounded_per_station(engine, monkeypatch):
    monkeypatch.setattr(connector_status, "STATES_MAX", 3)
    monkeypatch.setattr(connector_status, "HISTORY_MAX", 5)
    with session_scope(engine) as session:
        assert all(_record(session, "CS-1", evse, 1) for evse in (1, 2, 3))
        assert not _record(session, "CS-1", 4, 1)           # a fourth pair is not kept
        assert _record(session, "CS-1", 1, 1, "Occupied")   # a known pair still is
        for _ in range(10):
            _record(session, "CS-1", 2, 1, "Faulted")
        assert _record(session, "CS-2", 9, 1)               # another station has its own bound
    with session_scope(engine) as session:
        assert [(s.evse_id, s.status) for s in connector_status.states(session, "CS-1")] == [
            (1, "Occupied"), (2, "Faulted"), (3, "Available")]
        count = session.exec(select(func.count()).select_from(ConnectorStatusEvent)
                             .where(ConnectorStatusEvent.station_id == "CS-1")).one()
        assert count == 5
        assert len(connector_status.states(session, "CS-2")) == 1


def test_a_problem_stays_until_the_station_clears_that_same_problem(engine):
    with session_scope(engine) as session:
        _record(session, "CS-1", 1, 1, "Lock: true", kind=PROBLEM, problem="Lock")
        _record(session, "CS-1", 1, 1, "Other: false", kind=PROBLEM, problem="Other", cleared=True)
        assert connector_status.states(session, "CS-1")[0].problem == "Lock"
        _record(session, "CS-1", 1, 1, "Lock: false", kind=PROBLEM, problem="Lock", cleared=True)
        assert connector_status.states(session, "CS-1")[0].problem is None
