"""E — transactions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from api.ocpp.command import Command


@dataclass(frozen=True)
class GetTransactionStatus(Command[call_result.GetTransactionStatus]):
    """E14: whether the station still holds messages of a transaction (or of any, without an id)."""

    action: ClassVar[str] = Action.get_transaction_status
    transaction_id: str | None = None
