"""Functional block L — Firmware management: FirmwareStatusNotification (L01)."""

from __future__ import annotations

import logging
from typing import Any

from api.ocpp.handler import StationCall

log = logging.getLogger("chargeca.ocpp.firmware")


async def firmware_status_notification(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    log.info("firmware update %s of %s: %s", payload.get("requestId"), call.station_id, payload["status"])
    return {}
