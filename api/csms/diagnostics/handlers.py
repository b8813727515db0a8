"""Functional block N — Diagnostics: NotifyEvent (N07), NotifyCustomerInformation (N09/N10).
Acknowledged; their storage comes with N09 work. LogStatusNotification (N01): api/csms/logs."""

from __future__ import annotations

import logging
from typing import Any

from api.csms.availability import handlers as availability
from api.ocpp.handler import StationCall

log = logging.getLogger("chargeca.ocpp.diagnostics")


async def notify_event(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    # Connector availability and lock problems arrive here as well as through StatusNotification
    # (TC_G_20): block G keeps them.
    await availability.connector_events(call, payload)
    return {}


async def notify_customer_information(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    # Customer data is personal data: only its bookkeeping goes to the log.
    log.info("customer information %s part %s from %s", payload["requestId"], payload["seqNo"], call.station_id)
    return {}
