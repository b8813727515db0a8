"""G — availability."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import EVSEType
from ocpp.v201.enums import Action, OperationalStatusEnumType

from api.ocpp.command import Command


@dataclass(frozen=True)
class ChangeAvailability(Command[call_result.ChangeAvailability]):
    """G03–G05: make the station, an EVSE or a connector operative or inoperative."""

    action: ClassVar[str] = Action.change_availability
    operational_status: OperationalStatusEnumType
    evse: EVSEType | None = None
