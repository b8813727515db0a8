"""O — display messages (O01–O06)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import MessageInfoType
from ocpp.v201.enums import Action, MessagePriorityEnumType, MessageStateEnumType

from api.ocpp.command import Command


@dataclass(frozen=True)
class ClearDisplayMessage(Command[call_result.ClearDisplayMessage]):
    """O05: remove a display message."""

    action: ClassVar[str] = Action.clear_display_message
    id: int


@dataclass(frozen=True)
class GetDisplayMessages(Command[call_result.GetDisplayMessages]):
    """O03: the station reports its display messages (NotifyDisplayMessages follows)."""

    action: ClassVar[str] = Action.get_display_messages
    request_id: int
    id: list[int] | None = None
    priority: MessagePriorityEnumType | None = None
    state: MessageStateEnumType | None = None


@dataclass(frozen=True)
class SetDisplayMessage(Command[call_result.SetDisplayMessage]):
    """O01: show a message on the station's display."""

    action: ClassVar[str] = Action.set_display_message
    message: MessageInfoType
