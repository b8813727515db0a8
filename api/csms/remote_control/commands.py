"""F — remote control (F01–F06)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import ChargingProfileType, EVSEType, IdTokenType
from ocpp.v201.enums import Action, MessageTriggerEnumType

from api.ocpp.command import Command


@dataclass(frozen=True)
class RequestStartTransaction(Command[call_result.RequestStartTransaction]):
    """F01/F02: start a transaction for id_token, on evse_id or one the station picks."""

    action: ClassVar[str] = Action.request_start_transaction
    id_token: IdTokenType
    remote_start_id: int
    evse_id: int | None = None
    group_id_token: IdTokenType | None = None
    charging_profile: ChargingProfileType | None = None


@dataclass(frozen=True)
class RequestStopTransaction(Command[call_result.RequestStopTransaction]):
    """F03: stop a transaction."""

    action: ClassVar[str] = Action.request_stop_transaction
    transaction_id: str


@dataclass(frozen=True)
class TriggerMessage(Command[call_result.TriggerMessage]):
    """F06: have the station send one of its messages now."""

    action: ClassVar[str] = Action.trigger_message
    requested_message: MessageTriggerEnumType
    evse: EVSEType | None = None


@dataclass(frozen=True)
class UnlockConnector(Command[call_result.UnlockConnector]):
    """F05: release the cable held in a connector."""

    action: ClassVar[str] = Action.unlock_connector
    evse_id: int
    connector_id: int
