"""A DataTransfer vendor handler for the P cases and the plug-in tests (also loaded by name, as
an entry point would load it: ``vendor_support:parking``)."""

from __future__ import annotations

from typing import Any

from ocpp.v201.enums import DataTransferStatusEnumType

from api.csms.data_transfer.vendors import Reply

VENDOR = "com.example.parking"


async def parking(call, message_id: str | None, data: Any) -> Reply:
    """BayStatus with a bay number is Accepted (and answered with data); any other data Rejected;
    any other messageId UnknownMessageId."""
    if message_id != "BayStatus":
        return Reply(DataTransferStatusEnumType.unknown_message_id)
    if not isinstance(data, dict) or not isinstance(data.get("bay"), int):
        return Reply(DataTransferStatusEnumType.rejected)
    return Reply(DataTransferStatusEnumType.accepted, {"bay": data["bay"], "station": call.station_id})
