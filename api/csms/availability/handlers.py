"""Functional block G — Availability: StatusNotification (G01) and Heartbeat (G02)."""

from __future__ import annotations

from typing import Any

from api.ocpp.handler import StationCall, now_iso


async def heartbeat(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    # The most frequent message of a large fleet: no database on this path.
    return {"currentTime": now_iso()}


async def status_notification(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    call.live.connectors[(payload["evseId"], payload["connectorId"])] = payload["connectorStatus"]
    return {}
