"""Block G handlers called directly (no socket): Heartbeat and StatusNotification."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from fake_connection import FakeStation, unreachable_database

pytestmark = pytest.mark.fast


def _status(evse: int, connector: int, status: str) -> dict:
    return {"timestamp": "2025-06-01T12:00:00Z", "connectorStatus": status, "evseId": evse, "connectorId": connector}


async def test_heartbeat_tells_the_time_in_utc_to_the_millisecond(ctx):
    answer = await FakeStation(ctx, "CS-1").send("Heartbeat", {})
    # Stations set their clocks from it (G02): RFC 3339, UTC, as OCPP's dateTime asks.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", answer["currentTime"])
    assert abs(datetime.fromisoformat(answer["currentTime"]) - datetime.now(timezone.utc)) < timedelta(seconds=5)


async def test_heartbeat_is_answered_while_the_database_is_away(ctx, tmp_path):
    # The most frequent message of a fleet touches no database: an outage must not stop it.
    answer = await FakeStation(unreachable_database(ctx, tmp_path), "CS-1").send("Heartbeat", {})
    assert "currentTime" in answer


async def test_status_notifications_keep_the_latest_status_of_each_connector(ctx):
    station = FakeStation(ctx, "CS-1")
    assert await station.send("StatusNotification", _status(1, 1, "Available")) == {}
    await station.send("StatusNotification", _status(2, 1, "Faulted"))
    await station.send("StatusNotification", _status(1, 1, "Occupied"))
    assert station.live.connectors == {(1, 1): "Occupied", (2, 1): "Faulted"}


async def test_status_notifications_are_kept_as_state_and_history(ctx):
    from api.core.audit import run_in_session
    from api.csms.availability import service

    station = FakeStation(ctx, "CS-1")
    await station.send("StatusNotification", _status(1, 1, "Available"))
    await station.send("StatusNotification", _status(1, 1, "Occupied"))
    current = run_in_session(ctx, lambda s: [(r.evse_id, r.connector_id, r.status) for r in service.current(s, "CS-1")])
    history = run_in_session(ctx, lambda s: [e.value for e in service.history(s, "CS-1", evse_id=None, limit=10,
                                                                              before_id=None)])
    assert current == [(1, 1, "Occupied")]
    assert history == ["Occupied", "Available"]


async def test_the_live_connectors_stay_within_what_is_kept(ctx, monkeypatch):
    # The connection listing shows them: a station naming ever new (evse, connector) pairs, or a
    # NotifyEvent AvailabilityState of 2500 characters, grew them without bound, past the
    # STATES_MAX pairs and the status column the database keeps.
    from storage import connector_status

    monkeypatch.setattr(connector_status, "STATES_MAX", 2)
    station = FakeStation(ctx, "CS-1")
    for evse in (1, 2, 3):
        await station.send("StatusNotification", _status(evse, 1, "Available"))
    await station.send("NotifyEvent", {"generatedAt": "2025-06-01T12:00:00Z", "seqNo": 0, "eventData": [
        {"eventId": n, "timestamp": "2025-06-01T12:00:00Z", "trigger": "Delta", "actualValue": "Unavailable" * 200,
         "eventNotificationType": "HardWiredNotification", "variable": {"name": "AvailabilityState"},
         "component": {"name": "Connector", "evse": {"id": evse, "connectorId": 1}}}
        for n, evse in enumerate((2, 4))]})
    status = ("Unavailable" * 200)[:connector_status.STATUS_MAX]
    assert station.live.connectors == {(1, 1): "Available", (2, 1): status}
