"""The local authorization list's database work (D01, D02): which tokens go to a station, what
changed since its list was last accepted, and what the CSMS keeps of each station's list.

Which tokens: those whose ``local_list`` selector (a glob over station ids, ``*`` for all)
matches the station's id. What a station holds is kept as the entries it accepted
(LocalListEntry, with the idTokenInfo sent), so a differential update sends exactly the
difference: new or changed tokens with their idTokenInfo, removed ones without.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from ocpp.v201.enums import UpdateEnumType
from sqlalchemy import delete
from sqlmodel import Session, select

from api.csms.authorization.service import info_of
from storage.id_tokens import IdToken, LocalListEntry, LocalListState
from storage.types import utcnow

FULL, DIFFERENTIAL = UpdateEnumType.full.value, UpdateEnumType.differential.value
Key = tuple[str, str]   # (idToken in lower case, type)


@dataclass(frozen=True)
class Entry:
    """One AuthorizationData: ``info`` None removes the token (differential only)."""

    id_token: str
    type: str
    info: dict[str, Any] | None

    @property
    def key(self) -> Key:
        return self.id_token.lower(), self.type

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"idToken": {"idToken": self.id_token, "type": self.type}}
        if self.info is not None:
            data["idTokenInfo"] = self.info
        return data


def state(session: Session, station_id: str) -> LocalListState:
    return session.get(LocalListState, station_id) or LocalListState(station_id=station_id)


def selected(session: Session, station_id: str) -> dict[Key, Entry]:
    """The tokens the station's list should hold now, with the idTokenInfo it should hold."""
    rows = session.exec(select(IdToken).where(IdToken.local_list.is_not(None)).order_by(IdToken.type, IdToken.lookup))
    # fnmatchcase: station ids are case-sensitive (OCPP-J identity), so is the selector.
    return {(row.lookup, row.type): Entry(row.id_token, row.type, info_of(row))
            for row in rows if fnmatchcase(station_id, row.local_list)}


def held(session: Session, station_id: str) -> dict[Key, Entry]:
    """The entries the station accepted last, as the CSMS sent them."""
    rows = session.exec(select(LocalListEntry).where(LocalListEntry.station_id == station_id)
                        .order_by(LocalListEntry.type, LocalListEntry.id_token))
    return {(row.id_token.lower(), row.type): Entry(row.id_token, row.type, row.info) for row in rows}


def planned_entries(session: Session, station_id: str, update_type: str) -> list[Entry]:
    """Full: every selected token. Differential: the selected tokens that are new or changed,
    and removals for the held tokens no longer selected."""
    wanted = selected(session, station_id)
    if update_type == FULL:
        return list(wanted.values())
    have = held(session, station_id)
    changes = [entry for key, entry in wanted.items() if have.get(key) != entry]
    removals = [Entry(entry.id_token, entry.type, None) for key, entry in have.items() if key not in wanted]
    return changes + removals


def next_version(session: Session, station_id: str, update_type: str) -> int:
    """The version the first message of an update carries: one above ours; a full update also
    above what the station last reported, so its list is replaced by a newer one, never an older."""
    current = state(session, station_id)
    base = current.version
    if update_type == FULL and current.reported_version is not None:
        base = max(base, current.reported_version)
    return base + 1


def record_accepted(session: Session, station_id: str, update_type: str, version: int, entries: list[Entry]) -> None:
    """The station accepted one SendLocalList: its list is now ``entries`` (Full) or changed by them."""
    if update_type == FULL:
        session.execute(delete(LocalListEntry).where(LocalListEntry.station_id == station_id))
        session.flush()
    else:
        _remove(session, station_id, [entry.key for entry in entries])
    for entry in entries:
        if entry.info is not None:
            session.add(LocalListEntry(station_id=station_id, id_token=entry.id_token, type=entry.type,
                                       info=entry.info))
    current = state(session, station_id)
    current.version = version
    session.add(current)


def _remove(session: Session, station_id: str, keys: list[Key]) -> None:
    for row in session.exec(select(LocalListEntry).where(LocalListEntry.station_id == station_id)):
        if (row.id_token.lower(), row.type) in keys:
            session.delete(row)
    session.flush()


def record_outcome(session: Session, station_id: str, update_type: str, outcome: str) -> None:
    current = state(session, station_id)
    current.last_update_type, current.last_outcome, current.last_sent_at = update_type, outcome[:32], utcnow()
    session.add(current)


def keep_sent_answer(session: Session, station_id: str, request: Mapping[str, Any], answer: Mapping[str, Any],
                     _asked_by: str) -> None:
    """A SendLocalList sent as a typed command or through the generic call: what the station
    accepted is kept as an update of the token store's is, or the next differential update would
    start from a list the station no longer holds."""
    update_type = request["updateType"]
    record_outcome(session, station_id, update_type, answer["status"])
    if answer["status"] == "Accepted":
        # A token named twice: its last entry, as the station applies them in order.
        entries = {entry.key: entry for entry in (
            Entry(item["idToken"]["idToken"], item["idToken"]["type"], item.get("idTokenInfo"))
            for item in request.get("localAuthorizationList") or ())}
        record_accepted(session, station_id, update_type, request["versionNumber"], list(entries.values()))


def record_reported_version(session: Session, station_id: str, version: int) -> None:
    """GetLocalListVersion's answer (D02): 0 means the station holds no list."""
    current = state(session, station_id)
    current.reported_version, current.reported_at = version, utcnow()
    session.add(current)


def record_limits(session: Session, station_id: str, items: int | None, size: int | None) -> None:
    current = state(session, station_id)
    current.items_per_message, current.bytes_per_message = items, size
    session.add(current)


def view(session: Session, station_id: str) -> dict[str, Any]:
    current = state(session, station_id)
    entries = held(session, station_id)
    return {"station_id": station_id, "version": current.version, "reported_version": current.reported_version,
            "reported_at": current.reported_at, "items_per_message": current.items_per_message,
            "bytes_per_message": current.bytes_per_message, "last_update_type": current.last_update_type,
            "last_outcome": current.last_outcome, "last_sent_at": current.last_sent_at,
            "entries": [entry.payload() for entry in entries.values()]}
