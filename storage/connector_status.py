"""EVSE and connector states as the stations report them (G01, G05): the current state of each
(evse, connector) and a history of every report.

A station writes here on its own (StatusNotification, NotifyEvent), so both tables are bounded
per station: ``STATES_MAX`` distinct (evse, connector) pairs (a real station has a handful; more
is a broken or hostile one, and its extra pairs are not kept) and ``HISTORY_MAX`` history rows,
the oldest going first (``record`` prunes as it writes).

connector_id 0 is the EVSE itself (NotifyEvent on component EVSE); evse_id 0 the whole station.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, bindparam, delete, func, insert, update
from sqlmodel import Field, Session, SQLModel, select

from storage.types import UtcDateTime, utcnow

STATES_MAX = 256
HISTORY_MAX = 2000
STATUS_MAX = 32

# What a report is about: the connector's availability, or a problem it has.
AVAILABILITY = "AvailabilityState"
PROBLEM = "Problem"


class ConnectorState(SQLModel, table=True):
    __tablename__ = "connector_state"

    station_id: str = Field(primary_key=True, max_length=48)
    evse_id: int = Field(primary_key=True)
    connector_id: int = Field(primary_key=True)
    status: str | None = Field(default=None, max_length=STATUS_MAX)
    # The component and variable of a problem reported and not cleared (e.g. ConnectorPlugRetentionLock).
    problem: str | None = Field(default=None, max_length=110)
    problem_since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    reported_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ConnectorStatusEvent(SQLModel, table=True):
    __tablename__ = "connector_status_event"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    evse_id: int
    connector_id: int
    kind: str = Field(max_length=20)            # AVAILABILITY or PROBLEM
    value: str = Field(max_length=110)          # the status; for a problem "<component>: true|false"
    source: str = Field(max_length=24)          # StatusNotification or NotifyEvent
    reported_at: datetime = Field(sa_type=UtcDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


# Built once, run on the unit's connection: every station reports its connectors at each boot
# and at every plug-in and -out, so a boot storm brings thousands at once; through the ORM a
# report cost ~700 µs of CPU (a get, a count, two flushes, the prune's read).
_STATES = ConnectorState.__table__
_EVENTS = ConnectorStatusEvent.__table__
_STATE = select(_STATES).where(_STATES.c.station_id == bindparam("station_id"),
                               _STATES.c.evse_id == bindparam("evse_id"),
                               _STATES.c.connector_id == bindparam("connector_id"))
_PAIRS = select(func.count()).select_from(_STATES).where(_STATES.c.station_id == bindparam("station_id"))
_ADD_STATE = insert(_STATES)
# What a report may change of a state (its key never).
_CHANGING = ("status", "problem", "problem_since", "reported_at", "updated_at")
_SET_STATE = update(_STATES).where(_STATES.c.station_id == bindparam("key_station"),
                                   _STATES.c.evse_id == bindparam("key_evse"),
                                   _STATES.c.connector_id == bindparam("key_connector")
                                   ).values({name: bindparam(f"new_{name}") for name in _CHANGING})
_ADD_EVENT = insert(_EVENTS)
_OLDEST_KEPT = (select(_EVENTS.c.id).where(_EVENTS.c.station_id == bindparam("station_id"))
                .order_by(_EVENTS.c.id.desc()).offset(bindparam("newer", type_=Integer)).limit(1))
_PRUNE = delete(_EVENTS).where(_EVENTS.c.station_id == bindparam("station_id"), _EVENTS.c.id < bindparam("oldest_kept"))


def record(session: Session, station_id: str, evse_id: int, connector_id: int, *, kind: str, value: str,
           source: str, reported_at: datetime, problem: str | None = None, cleared: bool = False) -> bool:
    """Keep one report: the history row, and the current state. False (nothing kept) when the
    station already has ``STATES_MAX`` other pairs."""
    db = session.connection()
    key = {"station_id": station_id, "evse_id": evse_id, "connector_id": connector_id}
    found = db.execute(_STATE, key).mappings().first()
    if found is None and db.execute(_PAIRS, key).scalar_one() >= STATES_MAX:
        return False
    state = dict(found) if found is not None else {**key, "status": None, "problem": None, "problem_since": None,
                                                   "reported_at": reported_at}
    now = utcnow()
    if kind == AVAILABILITY:
        # A NotifyEvent's AvailabilityState is free text (actualValue, up to 2500 characters), the
        # column a status (ConnectorStatusEnumType): on PostgreSQL a longer one failed the report
        # after the NotifyEvent was kept. The event keeps it whole, the history its first 110.
        state["status"] = value[:STATUS_MAX]
    elif cleared:
        if state["problem"] == problem:
            state["problem"], state["problem_since"] = None, None
    else:
        state["problem"], state["problem_since"] = problem, reported_at
    state["reported_at"], state["updated_at"] = max(state["reported_at"], reported_at), now
    if found is None:
        db.execute(_ADD_STATE, state)
    else:
        db.execute(_SET_STATE, {"key_station": station_id, "key_evse": evse_id, "key_connector": connector_id,
                                **{f"new_{name}": state[name] for name in _CHANGING}})
    db.execute(_ADD_EVENT, {**key, "kind": kind, "value": value[:110], "source": source, "reported_at": reported_at,
                            "received_at": now})
    oldest_kept = db.execute(_OLDEST_KEPT, {"station_id": station_id, "newer": HISTORY_MAX - 1}).scalar()
    if oldest_kept is not None:
        db.execute(_PRUNE, {"station_id": station_id, "oldest_kept": oldest_kept})
    return True


def states(session: Session, station_id: str) -> list[ConnectorState]:
    return list(session.exec(select(ConnectorState).where(ConnectorState.station_id == station_id)
                             .order_by(ConnectorState.evse_id, ConnectorState.connector_id)))


def history(session: Session, station_id: str, *, evse_id: int | None = None, limit: int = 100,
            before_id: int | None = None) -> list[ConnectorStatusEvent]:
    """Newest first."""
    query = select(ConnectorStatusEvent).where(ConnectorStatusEvent.station_id == station_id)
    if evse_id is not None:
        query = query.where(ConnectorStatusEvent.evse_id == evse_id)
    if before_id is not None:
        query = query.where(ConnectorStatusEvent.id < before_id)
    return list(session.exec(query.order_by(ConnectorStatusEvent.id.desc()).limit(limit)))


class AvailabilityChange(SQLModel, table=True):
    """A ChangeAvailability we sent (G03-G05) and the station's answer."""

    __tablename__ = "availability_change"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    evse_id: int | None = None                  # None: the whole station
    connector_id: int | None = None
    operational_status: str = Field(max_length=16)
    answer: str | None = Field(default=None, max_length=16)   # Accepted, Rejected, Scheduled; None: none yet
    requested_by: str = Field(max_length=100)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
