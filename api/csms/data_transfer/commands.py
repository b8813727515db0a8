"""P — data transfer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from api.ocpp.command import Command


@dataclass(frozen=True)
class DataTransfer(Command[call_result.DataTransfer]):
    """P01: a vendor-specific message; ``data`` is any JSON the vendor defines."""

    action: ClassVar[str] = Action.data_transfer
    vendor_id: str
    message_id: str | None = None
    data: Any = None
