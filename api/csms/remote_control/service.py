"""Block F's database work: the remote starts we sent (F01/F02) and what became of them.

remoteStartId is ours, drawn at random (api/csms/ids.py); the ``remote_start.id_taken`` refusal
keeps it unique per station, also for a caller of the typed command who picks their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, select

from api.core.refusal import Conflict
from storage.remote_starts import REQUESTED, STARTED, RemoteStart
from storage.types import utcnow

def find(session: Session, station_id: str, remote_start_id: int) -> RemoteStart | None:
    return session.exec(select(RemoteStart).where(RemoteStart.station_id == station_id,
                                                  RemoteStart.remote_start_id == remote_start_id)).first()


def requested(session: Session, station_id: str, actor_name: str, payload: Mapping[str, Any]) -> None:
    """Record a RequestStartTransaction before it leaves; refused when its id is taken."""
    remote_start_id = payload["remoteStartId"]
    if find(session, station_id, remote_start_id) is not None:
        raise Conflict("remote_start.id_taken", f"remoteStartId {remote_start_id} was already used for station "
                                                f"{station_id}; each remote start needs its own",
                       details={"remote_start_id": remote_start_id})
    token = payload["idToken"]
    session.add(RemoteStart(station_id=station_id, remote_start_id=remote_start_id, id_token=token["idToken"],
                            id_token_type=token["type"], evse_id=payload.get("evseId"),
                            with_charging_profile="chargingProfile" in payload, requested_by=actor_name[:100]))
    session.flush()


def answered(session: Session, station_id: str, payload: Mapping[str, Any], response: Mapping[str, Any],
             _asked_by: str = "") -> None:
    row = find(session, station_id, payload["remoteStartId"])
    if row is None or row.status == STARTED:
        return
    row.status = response["status"]
    row.status_reason = (response.get("statusInfo") or {}).get("reasonCode")
    # A station that already runs a transaction for this token may answer with its id.
    row.transaction_id = response.get("transactionId") or row.transaction_id
    row.updated_at = utcnow()
    session.add(row)


def unanswered(session: Session, station_id: str, payload: Mapping[str, Any], outcome: str) -> None:
    row = find(session, station_id, payload["remoteStartId"])
    if row is not None and row.status == REQUESTED:
        row.status, row.updated_at = outcome, utcnow()
        session.add(row)


def transaction_started(session: Session, station_id: str, remote_start_id: int, transaction_id: str) -> None:
    """A TransactionEvent carried our remoteStartId: the remote start became this transaction."""
    row = find(session, station_id, remote_start_id)
    if row is None or row.transaction_id == transaction_id and row.status == STARTED:
        return
    row.status, row.transaction_id, row.updated_at = STARTED, transaction_id, utcnow()
    session.add(row)


def listed(session: Session, station_id: str, limit: int = 100) -> list[RemoteStart]:
    return list(session.exec(select(RemoteStart).where(RemoteStart.station_id == station_id)
                             .order_by(RemoteStart.id.desc()).limit(limit)))
