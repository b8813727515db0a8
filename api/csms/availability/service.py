"""Block G's database work: EVSE and connector states as reported (G01, G05), the
ChangeAvailability requests we sent and their answers (G03, G04)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from storage import connector_status
from storage.connector_status import AVAILABILITY, PROBLEM, AvailabilityChange, ConnectorState, ConnectorStatusEvent
from storage.types import utcnow

STATUS_NOTIFICATION, NOTIFY_EVENT = "StatusNotification", "NotifyEvent"

# NotifyEvent components that carry an availability (G01 via the device model, TC_G_20).
CONNECTOR, EVSE, AVAILABILITY_STATE = "Connector", "EVSE", "AvailabilityState"
_TRUE = {"true", "1"}


def record_status(session: Session, station_id: str, evse_id: int, connector_id: int, status: str,
                  reported_at: datetime) -> bool:
    return connector_status.record(session, station_id, evse_id, connector_id, kind=AVAILABILITY, value=status,
                                   source=STATUS_NOTIFICATION, reported_at=reported_at)


def connector_event(event: Mapping[str, Any]) -> tuple[int, int, str, str, bool] | None:
    """What one NotifyEvent eventData entry says about an EVSE or connector, or None when it says
    nothing about one: (evse_id, connector_id, kind, value, cleared). A ``Problem`` variable on
    any component under an EVSE (ConnectorPlugRetentionLock, G05) is a problem of that
    connector; ``AvailabilityState`` of Connector or EVSE its status."""
    component, variable = event["component"], event["variable"]["name"]
    evse = component.get("evse")
    if evse is None:
        return None
    evse_id, connector_id = evse["id"], evse.get("connectorId", 0)
    value = str(event["actualValue"])
    if variable == AVAILABILITY_STATE and component["name"] in (CONNECTOR, EVSE):
        return evse_id, connector_id if component["name"] == CONNECTOR else 0, AVAILABILITY, value, False
    if variable == PROBLEM:
        return evse_id, connector_id, PROBLEM, component["name"], value.strip().lower() not in _TRUE
    return None


def record_events(session: Session, station_id: str, events: list[tuple[tuple[int, int, str, str, bool], datetime]]
                  ) -> list[bool]:
    """Whether each report was kept (connector_status.record)."""
    kept = []
    for (evse_id, connector_id, kind, value, cleared), reported_at in events:
        if kind == AVAILABILITY:
            kept.append(connector_status.record(session, station_id, evse_id, connector_id, kind=kind, value=value,
                                                source=NOTIFY_EVENT, reported_at=reported_at))
        else:
            kept.append(connector_status.record(session, station_id, evse_id, connector_id, kind=kind,
                                                value=f"{value}: {'false' if cleared else 'true'}",
                                                source=NOTIFY_EVENT, reported_at=reported_at, problem=value,
                                                cleared=cleared))
    return kept


def current(session: Session, station_id: str) -> list[ConnectorState]:
    return connector_status.states(session, station_id)


def history(session: Session, station_id: str, *, evse_id: int | None, limit: int,
            before_id: int | None) -> list[ConnectorStatusEvent]:
    return connector_status.history(session, station_id, evse_id=evse_id, limit=limit, before_id=before_id)


# --- ChangeAvailability (G03-G05) ------------------------------------------------------------------

def change_requested(session: Session, station_id: str, actor_name: str, payload: Mapping[str, Any]) -> None:
    evse = payload.get("evse") or {}
    session.add(AvailabilityChange(station_id=station_id, evse_id=evse.get("id"), connector_id=evse.get("connectorId"),
                                   operational_status=payload["operationalStatus"], requested_by=actor_name[:100]))


def change_answered(session: Session, station_id: str, payload: Mapping[str, Any], response: Mapping[str, Any],
                    _asked_by: str = "") -> None:
    """The station's answer to the latest unanswered request of this scope."""
    _settle(session, station_id, payload, response.get("status"))


def change_unanswered(session: Session, station_id: str, payload: Mapping[str, Any], outcome: str) -> None:
    _settle(session, station_id, payload, outcome)


def _settle(session: Session, station_id: str, payload: Mapping[str, Any], answer: str | None) -> None:
    evse = payload.get("evse") or {}
    row = session.exec(select(AvailabilityChange).where(
        AvailabilityChange.station_id == station_id, AvailabilityChange.evse_id == evse.get("id"),
        AvailabilityChange.connector_id == evse.get("connectorId"),
        AvailabilityChange.operational_status == payload["operationalStatus"],
        AvailabilityChange.answer.is_(None)).order_by(AvailabilityChange.id.desc())).first()
    if row is not None:
        row.answer, row.answered_at = answer, utcnow()
        session.add(row)


def changes(session: Session, station_id: str, limit: int = 50) -> list[AvailabilityChange]:
    return list(session.exec(select(AvailabilityChange).where(AvailabilityChange.station_id == station_id)
                             .order_by(AvailabilityChange.id.desc()).limit(limit)))
