"""Functional block P — DataTransfer (P01/P02): a station's vendor-specific message, answered by
the handler registered for its vendorId (api/csms/data_transfer/vendors.py), or UnknownVendorId."""

from __future__ import annotations

from typing import Any

from ocpp.v201.enums import DataTransferStatusEnumType

from api.csms.data_transfer import vendors
from api.ocpp.handler import StationCall


async def data_transfer(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    handler = vendors.registry.handler(payload["vendorId"])
    if handler is None:
        return {"status": DataTransferStatusEnumType.unknown_vendor_id.value}
    reply = await handler(call, payload.get("messageId"), payload.get("data"))
    return reply.payload()
