"""D — the local authorization list (D01, D02)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import AuthorizationData
from ocpp.v201.enums import Action, UpdateEnumType

from api.ocpp.command import Command


@dataclass(frozen=True)
class GetLocalListVersion(Command[call_result.GetLocalListVersion]):
    """D02: the version of the station's local authorization list."""

    action: ClassVar[str] = Action.get_local_list_version


@dataclass(frozen=True)
class SendLocalList(Command[call_result.SendLocalList]):
    """D01: replace the local list (Full) or change entries of it (Differential)."""

    action: ClassVar[str] = Action.send_local_list
    version_number: int
    update_type: UpdateEnumType
    local_authorization_list: list[AuthorizationData] | None = None
