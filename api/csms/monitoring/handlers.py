"""Functional block N — monitoring: NotifyEvent (N07 alert events, N08 periodic events, and the
hard-wired notifications of every block) and NotifyMonitoringReport (N02).

Every event is kept (api/csms/monitoring/service.py, bounded per station); the connector and
EVSE states among them also go to block G (TC_G_20)."""

from __future__ import annotations

import logging
from typing import Any

from api.csms.availability import handlers as availability
from api.csms.monitoring import service
from api.ocpp.framing import ErrorCode, OcppError
from api.ocpp.handler import StationCall, parse_datetime

log = logging.getLogger("chargeca.ocpp.monitoring")


async def notify_event(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    # Parsed first: a bad timestamp is the station's CALLERROR before anything is kept.
    events = [(event, parse_datetime(event["timestamp"], "eventData.timestamp")) for event in payload["eventData"]]
    policy = call.ctx.policy.monitoring
    await call.db_grouped(lambda session: service.record_events(session, call.station_id, events, policy))
    await availability.connector_events(call, payload)
    return {}


async def notify_monitoring_report(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    # Checked first, as meter values are: the station's CALLERROR names the field, nothing is kept.
    field = service.non_finite_value(payload)
    if field is not None:
        raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"{field} is not a finite number",
                        {"field": field})
    policy = call.ctx.policy.monitoring
    known = await call.db(lambda session: service.record_report(session, call.station_id, payload, policy))
    if not known and (times := call.live.repeats.log_line("monitoring_report.unknown")) is not None:
        log.warning("%s sent a monitoring report for request %s, which we never sent: not kept%s", call.station_id,
                    payload["requestId"], times)
    return {}
