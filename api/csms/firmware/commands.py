"""L — firmware management (L01–L04)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import FirmwareType
from ocpp.v201.enums import Action

from api.ocpp.command import Command


@dataclass(frozen=True)
class PublishFirmware(Command[call_result.PublishFirmware]):
    """L03: a local controller publishes firmware for the stations behind it."""

    action: ClassVar[str] = Action.publish_firmware
    location: str
    checksum: str
    request_id: int
    retries: int | None = None
    retry_interval: int | None = None


@dataclass(frozen=True)
class UnpublishFirmware(Command[call_result.UnpublishFirmware]):
    """L04: stop publishing firmware."""

    action: ClassVar[str] = Action.unpublish_firmware
    checksum: str


@dataclass(frozen=True)
class UpdateFirmware(Command[call_result.UpdateFirmware]):
    """L01: download and install firmware (ChargeCA sends signed firmware only)."""

    action: ClassVar[str] = Action.update_firmware
    request_id: int
    firmware: FirmwareType
    retries: int | None = None
    retry_interval: int | None = None
