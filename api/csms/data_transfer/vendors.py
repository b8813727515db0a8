"""The plug-in point of DataTransfer (P01/P02): a station's vendor-specific message goes to the
handler registered for its vendorId; with none, it is answered UnknownVendorId (TC_P_02).

A handler is ``async def handler(call: StationCall, message_id: str | None, data: Any) -> Reply``:
it gets what the station sent and returns the answer's status (Accepted, Rejected,
UnknownMessageId) and, when it has some, data. It runs like any station handler: on the event
loop, never waiting for a CSMS call, reaching the database through ``call.db``.

Two ways to register one:
- in code, before the service starts: ``vendors.register("com.example", handler)``;
- by a package's entry point in the group ``chargeca.data_transfer``, the name the vendorId:
  ``[project.entry-points."chargeca.data_transfer"] "com.example" = "example_plugin:handle"``.
  Entry points are read once, on the first DataTransfer; one that does not load is logged and
  skipped (its vendor stays unknown), never a failure of the service.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from ocpp.v201.enums import DataTransferStatusEnumType

from api.ocpp.handler import StationCall

log = logging.getLogger("chargeca.ocpp.data_transfer")

ENTRY_POINT_GROUP = "chargeca.data_transfer"


@dataclass(frozen=True)
class Reply:
    status: DataTransferStatusEnumType
    data: Any = None

    def payload(self) -> dict[str, Any]:
        return {"status": self.status.value, **({"data": self.data} if self.data is not None else {})}


VendorHandler = Callable[[StationCall, "str | None", Any], Awaitable[Reply]]


class Vendors:
    """vendorId → handler. One instance per process (``registry`` below); tests make their own."""

    def __init__(self, *, group: str | None = ENTRY_POINT_GROUP) -> None:
        self._handlers: dict[str, VendorHandler] = {}
        self._group = group
        self._loaded = group is None

    def register(self, vendor_id: str, handler: VendorHandler) -> None:
        if not 1 <= len(vendor_id) <= 255:
            raise ValueError("a vendorId is 1 to 255 characters (DataTransferRequest.vendorId)")
        self._handlers[vendor_id] = handler

    def unregister(self, vendor_id: str) -> None:
        self._handlers.pop(vendor_id, None)

    def handler(self, vendor_id: str) -> VendorHandler | None:
        if not self._loaded:
            self._load()
        return self._handlers.get(vendor_id)

    def _load(self) -> None:
        self._loaded = True
        for entry in entry_points(group=self._group):
            if entry.name in self._handlers:
                continue  # registered in code: that one wins
            try:
                self._handlers[entry.name] = entry.load()
            except Exception:  # noqa: BLE001 - a broken plug-in leaves its vendor unknown, nothing more
                log.exception("DataTransfer handler %s for vendor %r did not load", entry.value, entry.name)


registry = Vendors()
