"""Functional block N — Diagnostics: NotifyEvent (N07), LogStatusNotification (N01),
NotifyCustomerInformation (N09/N10). Acknowledged; their storage comes with N01/N09 work."""

from __future__ import annotations

import logging
from typing import Any

from api.ocpp.handler import StationCall

log = logging.getLogger("chargeca.ocpp.diagnostics")


async def notify_event(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    for event in payload["eventData"]:
        # Connector availability arrives here as well as through StatusNotification (TC_G_20).
        if event["component"]["name"] == "Connector" and event["variable"]["name"] == "AvailabilityState":
            evse = event["component"].get("evse", {})
            call.live.connectors[(evse.get("id", 0), evse.get("connectorId", 0))] = event["actualValue"]
    return {}


async def log_status_notification(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    log.info("log upload %s of %s: %s", payload.get("requestId"), call.station_id, payload["status"])
    return {}


async def notify_customer_information(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    # Customer data is personal data: only its bookkeeping goes to the log.
    log.info("customer information %s part %s from %s", payload["requestId"], payload["seqNo"], call.station_id)
    return {}
