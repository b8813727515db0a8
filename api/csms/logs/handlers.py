"""N01 — LogStatusNotification: every status kept per requestId (bounded), the request's latest."""

from __future__ import annotations

from typing import Any

from api.csms.logs import service
from api.ocpp.handler import StationCall


async def log_status_notification(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    station_id, status, request_id = call.station_id, payload["status"], payload.get("requestId")
    await call.db(lambda session: service.status_reported(session, station_id, status, request_id))
    return {}
