"""Provisioning decisions an operator takes: how a station's next BootNotification is answered."""

from __future__ import annotations

from api.core.audit import Actor, audited, require_station
from api.core.context import Context
from api.core.refusal import Refusal
from api.core.settings import boot_statuses
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
