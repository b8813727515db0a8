"""Functional block N — Diagnostics: LogStatusNotification (N01). Acknowledged; its storage
comes with the N01 work. (NotifyEvent: api/csms/monitoring/; NotifyCustomerInformation:
api/csms/customer_information/.)"""

from __future__ import annotations

import logging
from typing import Any

from api.ocpp.handler import StationCall

log = logging.getLogger("chargeca.ocpp.diagnostics")


async def log_status_notification(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    log.info("log upload %s of %s: %s", payload.get("requestId"), call.station_id, payload["status"])
    return {}
