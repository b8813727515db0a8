"""N01 — the station's logs, uploaded to a location ChargeCA runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import LogParametersType
from ocpp.v201.enums import Action, LogEnumType

from api.ocpp.command import Command


@dataclass(frozen=True)
class GetLog(Command[call_result.GetLog]):
    """N01: upload a diagnostics or security log to log.remote_location."""

    action: ClassVar[str] = Action.get_log
    log: LogParametersType
    log_type: LogEnumType
    request_id: int
    retries: int | None = None
    retry_interval: int | None = None
