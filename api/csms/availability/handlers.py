"""Functional block G — Availability: StatusNotification (G01), Heartbeat (G02), and the
connector and EVSE states a NotifyEvent reports (G01 through the device model, G05 lock
failures; TC_G_20).

Every report is kept (api/csms/availability/service.py: current state and a bounded history);
the connection listing still shows the latest status from the live state, without a database read.
"""

from __future__ import annotations

from typing import Any

from api.csms.availability import service
from api.ocpp.handler import StationCall, now_iso, parse_datetime
from storage.connector_status import STATUS_MAX


async def heartbeat(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    # The most frequent message of a large fleet: no database on this path.
    return {"currentTime": now_iso()}


async def status_notification(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    evse_id, connector_id, status = payload["evseId"], payload["connectorId"], payload["connectorStatus"]
    reported_at = parse_datetime(payload["timestamp"], "timestamp")
    if await call.db_grouped(lambda session: service.record_status(session, call.station_id, evse_id, connector_id,
                                                                   status, reported_at)):
        _show(call, evse_id, connector_id, status)
    return {}


async def connector_events(call: StationCall, payload: dict[str, Any]) -> None:
    """The EVSE and connector part of a NotifyEvent (the N block's handler hands it over)."""
    events, live = [], []
    for event in payload["eventData"]:
        said = service.connector_event(event)
        if said is None:
            continue
        events.append((said, parse_datetime(event["timestamp"], "eventData.timestamp")))
        live.append(said[2] == service.AVAILABILITY and event["component"]["name"] == service.CONNECTOR)
    if events:
        kept = await call.db_grouped(lambda session: service.record_events(session, call.station_id, events))
        for ((evse_id, connector_id, _kind, value, _cleared), _at), shown, stored in zip(events, live, kept,
                                                                                          strict=True):
            if shown and stored:
                _show(call, evse_id, connector_id, value)


def _show(call: StationCall, evse_id: int, connector_id: int, status: str) -> None:
    """The status in the connection listing: only of a pair the database kept, and as it keeps
    it, or a station naming ever new pairs (or statuses of 2500 characters) grows it without bound."""
    call.live.connectors[(evse_id, connector_id)] = status[:STATUS_MAX]
