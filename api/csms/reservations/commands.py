"""H — reservations (H01–H03)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import IdTokenType
from ocpp.v201.enums import Action, ConnectorEnumType

from api.ocpp.command import Command


@dataclass(frozen=True)
class CancelReservation(Command[call_result.CancelReservation]):
    """H02: cancel a reservation."""

    action: ClassVar[str] = Action.cancel_reservation
    reservation_id: int


@dataclass(frozen=True)
class ReserveNow(Command[call_result.ReserveNow]):
    """H01: reserve an EVSE (or any, or a connector type) for id_token until expiry_date_time."""

    action: ClassVar[str] = Action.reserve_now
    id: int
    expiry_date_time: str
    id_token: IdTokenType
    connector_type: ConnectorEnumType | None = None
    evse_id: int | None = None
    group_id_token: IdTokenType | None = None
