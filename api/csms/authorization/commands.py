"""C — authorization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from api.ocpp.command import Command


@dataclass(frozen=True)
class ClearCache(Command[call_result.ClearCache]):
    """C11: empty the station's authorization cache."""

    action: ClassVar[str] = Action.clear_cache
