"""Functional block P — DataTransfer (P01): no vendor extensions are implemented (TC_P_02)."""

from __future__ import annotations

from typing import Any

from api.ocpp.handler import StationCall


async def data_transfer(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": "UnknownVendorId"}
