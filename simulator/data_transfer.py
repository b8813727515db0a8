"""DataTransfer on a simulated station (P01/P02): vendor-specific messages both ways.

The CSMS's DataTransfer goes to the handler set for its vendorId (``handlers``), else it is
answered UnknownVendorId; ``send`` is the station's own DataTransfer to the CSMS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

VendorHandler = Callable[[str | None, Any], dict[str, Any]]


class VendorData:
    def __init__(self) -> None:
        self.handlers: dict[str, VendorHandler] = {}

    def data_transfer(self, _station: Any, payload: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(payload["vendorId"])
        if handler is None:
            return {"status": "UnknownVendorId"}
        return handler(payload.get("messageId"), payload.get("data"))

    @staticmethod
    async def send(station: Any, vendor_id: str, message_id: str | None = None, data: Any = None,
                   **extra: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"vendorId": vendor_id, **extra}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        return await station.call("DataTransfer", payload)
