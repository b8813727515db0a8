"""Block O's database work (O01-O06): the display messages we set (SetDisplayMessage, with the
station's answer), cleared (ClearDisplayMessage) and asked for (GetDisplayMessages), and what the
station reported showing (NotifyDisplayMessages), one row per (station, message id)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from api.csms import report_streams
from api.ocpp.framing import OcppError
from api.ocpp.handler import parse_datetime
from policies.model import Decision
from storage.display_messages import (
    CLEARED,
    CSMS,
    MESSAGES_MAX,
    REPORTED,
    REQUESTED,
    STATION,
    DisplayMessage,
)
from storage.report_requests import DISPLAY_MESSAGES
from storage.types import utcnow

_ACCEPTED = "Accepted"


def check_message(payload: Mapping[str, Any], now: datetime) -> Decision:
    """SetDisplayMessage (O01): a time window the message can be shown in. One that ends before
    it starts, or has ended already, a station answers Accepted and never shows, so the operator
    would never learn of the slip."""
    message = payload.get("message", {})
    try:
        start, end = (parse_datetime(message[key], f"message.{key}") if message.get(key) else None
                      for key in ("startDateTime", "endDateTime"))
    except OcppError as exc:
        return Decision.refuse("call.display_message.window", exc.description)
    if end is not None and start is not None and end <= start:
        return Decision.refuse("call.display_message.window",
                               f"message.endDateTime ({end.isoformat()}) must be after message.startDateTime "
                               f"({start.isoformat()}): the message would never be shown")
    if end is not None and end <= now:
        return Decision.refuse("call.display_message.window",
                               f"message.endDateTime ({end.isoformat()}) has passed: the message would never be shown")
    return Decision.allow()


def find(session: Session, station_id: str, message_id: int) -> DisplayMessage | None:
    return session.exec(select(DisplayMessage).where(DisplayMessage.station_id == station_id,
                                                     DisplayMessage.message_id == message_id)).first()


def _fill(row: DisplayMessage, message: Mapping[str, Any]) -> None:
    content = message["message"]
    start, end = message.get("startDateTime"), message.get("endDateTime")
    row.priority, row.state = message["priority"], message.get("state")
    row.start_at = parse_datetime(start, "message.startDateTime") if start else None
    row.end_at = parse_datetime(end, "message.endDateTime") if end else None
    row.transaction_id = message.get("transactionId")
    row.format, row.language, row.content = content["format"], content.get("language"), content["content"]
    row.display_component = (message.get("display") or {}).get("name")
    row.updated_at = utcnow()


def set_requested(session: Session, station_id: str, actor_name: str, payload: Mapping[str, Any]) -> None:
    """SetDisplayMessage (O01/O02/O06) before it leaves; a message id already there is replaced
    (the station replaces a message whose id it has)."""
    message = payload["message"]
    row = find(session, station_id, message["id"]) or DisplayMessage(
        station_id=station_id, message_id=message["id"], priority="", format="", content="", origin=CSMS)
    _fill(row, message)
    row.origin, row.status, row.status_reason, row.requested_by = CSMS, REQUESTED, None, actor_name[:100]
    session.add(row)
    session.flush()


def set_answered(session: Session, station_id: str, payload: Mapping[str, Any], response: Mapping[str, Any],
                 _asked_by: str = "") -> None:
    _set_status(session, station_id, payload["message"]["id"], response["status"],
                (response.get("statusInfo") or {}).get("reasonCode"))


def set_unanswered(session: Session, station_id: str, payload: Mapping[str, Any], outcome: str) -> None:
    row = find(session, station_id, payload["message"]["id"])
    if row is not None and row.status == REQUESTED:
        _set_status(session, station_id, row.message_id, outcome)


def clear_answered(session: Session, station_id: str, payload: Mapping[str, Any], response: Mapping[str, Any],
                   _asked_by: str = "") -> None:
    """O05: Accepted removes it; Unknown says the station does not have it (any more)."""
    _set_status(session, station_id, payload["id"], CLEARED if response["status"] == _ACCEPTED else response["status"])


def _set_status(session: Session, station_id: str, message_id: int, status: str, reason: str | None = None) -> None:
    row = find(session, station_id, message_id)
    if row is not None:
        row.status, row.status_reason, row.updated_at = status, reason, utcnow()
        session.add(row)


# GetDisplayMessages' answer: Accepted (NotifyDisplayMessages follows) or Unknown (no message matches).
REPORT = report_streams.Stream(DISPLAY_MESSAGES, ("id", "priority", "state"))


def record_report(session: Session, station_id: str, payload: Mapping[str, Any]) -> bool:
    """One NotifyDisplayMessages (O03): each message as the station shows it. False when we never
    asked (nothing kept); beyond ``MESSAGES_MAX`` rows per station, new ones are not kept."""
    # NotifyDisplayMessages carries no seqNo: its parts count in the order they come.
    if report_streams.part(session, station_id, DISPLAY_MESSAGES, payload["requestId"], None,
                           payload.get("tbc", False)) is None:
        return False
    now = utcnow()
    for message in payload.get("messageInfo", ()):
        row = find(session, station_id, message["id"])
        if row is None:
            count = session.exec(select(func.count()).select_from(DisplayMessage)
                                 .where(DisplayMessage.station_id == station_id)).one()
            if count >= MESSAGES_MAX:
                continue
            row = DisplayMessage(station_id=station_id, message_id=message["id"], priority="", format="", content="",
                                 origin=STATION, status=REPORTED)
        _fill(row, message)
        if row.status == CLEARED:
            row.status = REPORTED  # the station still shows it
        row.reported_at = now
        session.add(row)
        session.flush()
    return True


def listed(session: Session, station_id: str, *, shown: bool = False, limit: int = MESSAGES_MAX,
           after_message_id: int | None = None) -> list[DisplayMessage]:
    query = select(DisplayMessage).where(DisplayMessage.station_id == station_id)
    if after_message_id is not None:
        query = query.where(DisplayMessage.message_id > after_message_id)
    if shown:
        query = query.where(DisplayMessage.status.in_([_ACCEPTED, REPORTED]))
    return list(session.exec(query.order_by(DisplayMessage.message_id).limit(limit)))
