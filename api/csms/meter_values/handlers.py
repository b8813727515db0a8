"""Functional block J — Meter values: MeterValues (J01). Accepted, signed or not (TC_J_04)."""

from __future__ import annotations

from typing import Any

from api.ocpp.handler import StationCall


async def meter_values(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    # Billing data belongs to the CSO's back office, not to a certificate service: acknowledge.
    return {}
