"""Provisioning decisions an operator takes (how a station's next BootNotification is answered)
and what the block's calls leave: report requests, Resets (kept until the reboot that ends
them), SetNetworkProfile requests with their answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session

from api.core.audit import Actor, audited, require_station
from api.core.context import Context
from api.core.refusal import Refusal
from api.core.settings import boot_statuses
from api.csms.provisioning import device_model
from storage.device_model import RESET_REBOOTED, RESET_REQUESTED, NetworkProfileRequest, StationReset
from storage.stations import Station
from storage.types import utcnow


def set_boot_policy(ctx: Context, actor: Actor, station_id: str, status: str | None) -> Station:
    """How the station's next BootNotification is answered; None: the gateway default."""
    if status is not None and status not in boot_statuses():
        raise Refusal("station.boot_policy", f"boot policy must be one of {', '.join(boot_statuses())}")
    with audited(ctx, actor, "station.boot_policy", station_id) as (session, detail):
        station = require_station(session, station_id)
        station.boot_policy = status
        station.updated_at = utcnow()
        session.add(station)
        detail["status"] = status or "default"
    return station


# --- what an operator's provisioning call leaves (api/csms/call_effects.py) -----------------------

def report_requested(session: Session, station_id: str, actor_name: str, payload: Mapping[str, Any]) -> None:
    criteria = {key: payload[key] for key in ("componentVariable", "componentCriteria") if key in payload}
    device_model.report_requested(session, station_id, actor_name, "GetReport" if criteria or
                                  "reportBase" not in payload else "GetBaseReport", payload["requestId"],
                                  payload.get("reportBase"), criteria or None)


def report_answered(session: Session, station_id: str, request: Mapping[str, Any], answer: Mapping[str, Any],
                    _asked_by: str) -> None:
    device_model.report_answered(session, station_id, request["requestId"], answer["status"])


def report_unanswered(session: Session, station_id: str, request: Mapping[str, Any], outcome: str) -> None:
    device_model.report_unanswered(session, station_id, request["requestId"], outcome)


def reset_requested(session: Session, station_id: str, actor_name: str, payload: Mapping[str, Any]) -> None:
    session.add(StationReset(station_id=station_id, type=payload["type"], evse_id=payload.get("evseId"),
                             requested_by=actor_name))
    session.flush()
    _prune(session, StationReset, station_id)


def _latest_reset(session: Session, station_id: str, request: Mapping[str, Any]) -> StationReset | None:
    return session.execute(select(StationReset).where(
        StationReset.station_id == station_id, StationReset.type == request["type"],
        StationReset.evse_id == request.get("evseId") if "evseId" in request else StationReset.evse_id.is_(None),
        StationReset.status == RESET_REQUESTED).order_by(StationReset.id.desc()).limit(1)).scalar_one_or_none()


def reset_answered(session: Session, station_id: str, request: Mapping[str, Any], answer: Mapping[str, Any],
                   _asked_by: str) -> None:
    """Accepted: the station reboots now; Scheduled (B11.FR.08/B12.FR.06): once its transactions
    end. Either stays open until the reboot's BootNotification closes it (``close_resets``)."""
    _settle(session, _latest_reset(session, station_id, request), answer["status"], answered=True)


def reset_unanswered(session: Session, station_id: str, request: Mapping[str, Any], outcome: str) -> None:
    _settle(session, _latest_reset(session, station_id, request), outcome, answered=False)


def _settle(session: Session, row: StationReset | NetworkProfileRequest | None, status: str, *,
            answered: bool) -> None:
    """A request's row gets the station's answer, or how the call ended without one."""
    if row is None:
        return
    row.status = status
    if answered:
        row.answered_at = utcnow()
        if isinstance(row, StationReset):
            row.answer = status
    session.add(row)


def close_resets(session: Session, station_id: str, boot_reason: str) -> None:
    """A BootNotification: the Resets the station accepted or scheduled have happened."""
    session.execute(update(StationReset).where(StationReset.station_id == station_id,
                                               StationReset.status.in_(AWAITING_REBOOT))
                    .values(status=RESET_REBOOTED, rebooted_at=utcnow(), boot_reason=boot_reason),
                    execution_options={"synchronize_session": False})


AWAITING_REBOOT = ("Accepted", "Scheduled")


def network_profile_requested(session: Session, station_id: str, actor_name: str, payload: Mapping[str, Any]) -> None:
    # Only where and how: the APN or VPN credentials of connectionData are not kept.
    data = payload["connectionData"]
    session.add(NetworkProfileRequest(station_id=station_id, configuration_slot=payload["configurationSlot"],
                                      security_profile=data["securityProfile"], ocpp_csms_url=data["ocppCsmsUrl"],
                                      ocpp_interface=data["ocppInterface"], requested_by=actor_name))
    session.flush()
    _prune(session, NetworkProfileRequest, station_id)


def _latest_profile(session: Session, station_id: str, request: Mapping[str, Any]) -> NetworkProfileRequest | None:
    return session.execute(select(NetworkProfileRequest).where(
        NetworkProfileRequest.station_id == station_id,
        NetworkProfileRequest.configuration_slot == request["configurationSlot"],
        NetworkProfileRequest.status == "requested").order_by(NetworkProfileRequest.id.desc()).limit(1)
    ).scalar_one_or_none()


def network_profile_answered(session: Session, station_id: str, request: Mapping[str, Any],
                             answer: Mapping[str, Any], _asked_by: str) -> None:
    """Accepted, Rejected or Failed (B09.FR.02/03, TC_B_44): kept as the station said it."""
    _settle(session, _latest_profile(session, station_id, request), answer["status"], answered=True)


def network_profile_unanswered(session: Session, station_id: str, request: Mapping[str, Any], outcome: str) -> None:
    _settle(session, _latest_profile(session, station_id, request), outcome, answered=False)


# Operators make these rows, one per call; the newest are kept.
KEEP_REQUESTS = 200


def _prune(session: Session, table: Any, station_id: str) -> None:
    stale = session.execute(select(table.id).where(table.station_id == station_id)
                            .order_by(table.id.desc()).offset(KEEP_REQUESTS)).scalars().all()
    if stale:
        session.execute(delete(table).where(table.id.in_(stale)))


def resets(session: Session, station_id: str, limit: int = 100) -> list[StationReset]:
    return list(session.execute(select(StationReset).where(StationReset.station_id == station_id)
                                .order_by(StationReset.id.desc()).limit(limit)).scalars())


def network_profiles(session: Session, station_id: str, limit: int = 100) -> list[NetworkProfileRequest]:
    return list(session.execute(select(NetworkProfileRequest).where(NetworkProfileRequest.station_id == station_id)
                                .order_by(NetworkProfileRequest.id.desc()).limit(limit)).scalars())
