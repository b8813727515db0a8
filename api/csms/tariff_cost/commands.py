"""I — tariff and cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from api.ocpp.command import Command


@dataclass(frozen=True)
class CostUpdated(Command[call_result.CostUpdated]):
    """I04: the running cost of a transaction, for the station to show."""

    action: ClassVar[str] = Action.cost_updated
    total_cost: float
    transaction_id: str
