"""Block H's database work: reservations we asked for (H01), cancelled (H02), used (H03),
ended by the station (H04).

Reservation ids are ours, drawn at random (api/csms/ids.py). A ReserveNow with an id already
there is, by H01, a replacement of that reservation, so the typed command may repeat one: the
row is then updated, not doubled.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from api.ocpp.handler import parse_datetime
from storage.reservations import CANCELLED, REQUESTED, USED, Reservation
from storage.types import utcnow

# What a station's answer to CancelReservation means for the row.
_ACCEPTED = "Accepted"


def find(session: Session, station_id: str, reservation_id: int) -> Reservation | None:
    return session.exec(select(Reservation).where(Reservation.station_id == station_id,
                                                  Reservation.reservation_id == reservation_id)).first()


def requested(session: Session, station_id: str, actor_name: str, payload: Mapping[str, Any]) -> None:
    """Record a ReserveNow before it leaves (a new reservation, or the replacement of one)."""
    row = find(session, station_id, payload["id"]) or Reservation(station_id=station_id, reservation_id=payload["id"],
                                                                  id_token="", id_token_type="",
                                                                  expires_at=utcnow(), requested_by="")
    token, group = payload["idToken"], payload.get("groupIdToken")
    row.evse_id, row.connector_type = payload.get("evseId"), payload.get("connectorType")
    row.id_token, row.id_token_type = token["idToken"], token["type"]
    row.group_id_token = group["idToken"] if group else None
    row.expires_at = parse_datetime(payload["expiryDateTime"], "expiryDateTime")
    row.status, row.transaction_id, row.requested_by, row.updated_at = REQUESTED, None, actor_name[:100], utcnow()
    session.add(row)
    session.flush()


def answered(session: Session, station_id: str, payload: Mapping[str, Any], response: Mapping[str, Any],
             _asked_by: str = "") -> None:
    """ReserveNow's answer: Accepted, Faulted, Occupied, Rejected, Unavailable."""
    _set(session, station_id, payload["id"], response["status"])


def unanswered(session: Session, station_id: str, payload: Mapping[str, Any], outcome: str) -> None:
    row = find(session, station_id, payload["id"])
    if row is not None and row.status == REQUESTED:
        _set(session, station_id, payload["id"], outcome)


def cancel_answered(session: Session, station_id: str, payload: Mapping[str, Any],
                    response: Mapping[str, Any], _asked_by: str = "") -> None:
    """CancelReservation's answer: Accepted cancels it; Rejected (unknown to the station) leaves it."""
    if response["status"] == _ACCEPTED:
        _set(session, station_id, payload["reservationId"], CANCELLED)


def status_update(session: Session, station_id: str, reservation_id: int, status: str) -> bool:
    """ReservationStatusUpdate (H04): Expired or Removed. False for an id we never sent."""
    return _set(session, station_id, reservation_id, status)


def used(session: Session, station_id: str, reservation_id: int, transaction_id: str) -> None:
    """A TransactionEvent named the reservation (H03): it ended by being used."""
    row = find(session, station_id, reservation_id)
    if row is not None and row.status != USED:
        row.status, row.transaction_id, row.updated_at = USED, transaction_id, utcnow()
        session.add(row)


def _set(session: Session, station_id: str, reservation_id: int, status: str) -> bool:
    row = find(session, station_id, reservation_id)
    if row is None:
        return False
    row.status, row.updated_at = status, utcnow()
    session.add(row)
    return True


def listed(session: Session, station_id: str, *, active_at: datetime | None = None,
           limit: int = 100) -> list[Reservation]:
    query = select(Reservation).where(Reservation.station_id == station_id)
    if active_at is not None:
        query = query.where(Reservation.expires_at > active_at, Reservation.status.in_([REQUESTED, _ACCEPTED]))
    return list(session.exec(query.order_by(Reservation.id.desc()).limit(limit)))
