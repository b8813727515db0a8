"""Functional block L — Firmware management: FirmwareStatusNotification (L01), the statuses of
firmware a local controller publishes (L03), and the alert on a station's firmware security
events (they are stored by block A first)."""

from __future__ import annotations

import logging
from typing import Any

from api.csms.firmware import service, signal
from api.ocpp.handler import Handler, StationCall
from storage.db import DatabaseUnavailable

log = logging.getLogger("chargeca.ocpp.firmware")


async def firmware_status_notification(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    status, request_id = payload["status"], payload.get("requestId")
    update = await call.db(lambda session: service.record_status(session, call.station_id, status, request_id))
    if update is not None and update.campaign_id is not None and status in service.ENDED:
        signal.ring()  # its campaign may go on at once
    # Each status once (the same one again only at the 2nd, 4th, ... time): a station's update
    # reports a handful; one repeating a status is logged as any repeat is.
    if (times := call.live.repeats.log_line(f"firmware {request_id} {status}")) is not None:
        log.info("firmware update %s of %s: %s%s", request_id, call.station_id, status, times)
    return {}


async def publish_firmware_status_notification(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    await call.db(lambda session: service.record_publish_status(
        session, call.station_id, payload["status"], payload.get("requestId"), payload.get("location", [])))
    return {}


def alerting(security_event_notification: Handler) -> Handler:
    """Block A's SecurityEventNotification handler, then, for InvalidFirmwareSignature and
    InvalidFirmwareSigningCertificate, an alert officers see (api/csms/security/alerts.py)."""

    async def handler(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await security_event_notification(call, payload)
        if payload["type"] in service.FIRMWARE_EVENTS:
            try:
                await call.db(lambda session: service.station_event_alert(session, call.station_id, payload["type"],
                                                                          payload.get("techInfo")))
            except DatabaseUnavailable:
                # Block A kept the event in its spool; the alert is its WARNING in the log.
                log.warning("firmware alert for %s not stored: database unavailable", call.station_id)
        return answer

    return handler
