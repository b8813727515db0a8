"""The security block's database steps around OCPP exchanges (A01 passwords, M trust anchors,
A05 profile upgrade, A02 renewal requests), each audited.

The gateway sends; these decide and record, before and after, so an action whose answer is
lost (the process or the connection dies) is still on record. No transaction stays open
while a station is being waited for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from api.core.audit import Actor, T, audited, require_station
from api.core.context import Context
from api.core.credentials import PASSWORD_MAX, PASSWORD_MIN, generate_password, hash_secret
from api.core.refusal import Conflict, Refusal
from api.csms.security import renewal
from storage.outbox import OutboundCall
from storage.stations import Station
from storage.types import utcnow

PASSWORD_LENGTH_MAX = 64  # the largest maxLimit a station may announce for BasicAuthPassword (A00.FR.205)


def begin_password_rotation(ctx: Context, actor: Actor, station_id: str, length: int = PASSWORD_MAX) -> str:
    """A01, before sending: a new random Basic-auth password whose hash is stored as the pending
    one, so that from now on the station may authenticate with the old or the new password.

    Returns the password in clear for the caller to send in SetVariables and then forget; it is
    never stored, logged or audited.
    """
    if not PASSWORD_MIN <= length <= PASSWORD_LENGTH_MAX:
        raise Refusal("station.password_length",
                               f"password length must be {PASSWORD_MIN} to {PASSWORD_LENGTH_MAX} (A00.FR.205)")
    with audited(ctx, actor, "station.password.rotate", station_id) as (session, detail):
        station = require_station(session, station_id)
        if station.security_profile == 3:
            raise Refusal("station.password.profile",
                                   "the station authenticates with a client certificate (profile 3), "
                                   "not with a Basic-auth password")
        if station.pending_password_hash is not None:
            # A third password would leave the station locked out if it applied the earlier one
            # late; its next authentication resolves the earlier rotation first.
            raise Conflict("station.password.pending",
                                   "the answer to the previous password change is still unknown; "
                                   "it is resolved when the station next authenticates")
        clear = generate_password(length)
        station.pending_password_hash = hash_secret(clear)
        station.updated_at = utcnow()
        session.add(station)
        detail["length"] = length
    return clear


ROTATION_ACCEPTED, ROTATION_REJECTED, ROTATION_UNKNOWN = "accepted", "rejected", "unknown"


def finish_password_rotation(ctx: Context, actor: Actor, station_id: str, answer: str) -> None:
    """A01, after the station's answer: accepted → only the new password stays valid (A01.FR.03);
    rejected → only the old one (A01.FR.04/05); unknown → both, until the station's next
    authentication shows which one it uses (admission then drops the other)."""
    with audited(ctx, actor, "station.password.rotate.result", station_id) as (session, detail):
        detail["answer"] = answer
        station = require_station(session, station_id)
        if answer == ROTATION_UNKNOWN:
            return
        if station.pending_password_hash is None:
            detail["note"] = "already resolved by the station's authentication"
            return
        if answer == ROTATION_ACCEPTED:
            station.password_hash = station.pending_password_hash
        station.pending_password_hash = None
        station.updated_at = utcnow()
        session.add(station)


def begin_trust_anchor_change(ctx: Context, actor: Actor, action: str, station_id: str,
                              prepare: Callable[[Session, dict[str, Any]], T]) -> T:
    """Run ``prepare(session, audit_detail)`` for a registered station in one audited transaction.
    ``prepare`` raises Refusal (or LookupError) to stop the change before it is sent."""
    with audited(ctx, actor, action, station_id) as (session, detail):
        require_station(session, station_id)
        return prepare(session, detail)


def record_trust_anchor_result(ctx: Context, actor: Actor, action: str, station_id: str, detail: dict[str, Any],
                               store: Callable[[Session], None] | None = None) -> None:
    """Audit how the station answered; ``store`` writes what it reported in the same transaction."""
    with audited(ctx, actor, action, station_id) as (session, entry):
        entry.update(detail)
        if store is not None:
            store(session)


def begin_profile_upgrade(ctx: Context, actor: Actor, station_id: str, target: int,
                          prerequisites: Callable[[Session, Station], None]) -> Station:
    """A05, before anything is sent: the target must be higher than the station's profile, and
    ``prerequisites`` (raising Refusal) must hold. Audited either way."""
    with audited(ctx, actor, "station.profile.upgrade", station_id) as (session, detail):
        station = require_station(session, station_id)
        detail.update(current=station.security_profile, target=target)
        if not station.security_profile < target <= 3:
            raise Refusal("upgrade.target", f"station is on profile {station.security_profile}; "
                                                     f"it can only be upgraded to a higher profile, at most 3")
        prerequisites(session, station)
    return station


def arm_profile_upgrade(ctx: Context, actor: Actor, station_id: str, target: int) -> None:
    """A05, once the station took the new network profile and before it is reset: admission now
    also accepts ``target``, and the first connection under it makes it the station's profile for
    good (A05.FR.07), whether or not the answer to Reset ever arrives."""
    with audited(ctx, actor, "station.profile.pending", station_id) as (session, detail):
        station = require_station(session, station_id)
        station.pending_security_profile = target
        station.updated_at = utcnow()
        session.add(station)
        detail["target"] = target


def request_certificate_renewal(ctx: Context, actor: Actor, station_id: str,
                                certificate_type: str = renewal.CHARGING_STATION_CERTIFICATE
                                ) -> tuple[OutboundCall, bool]:
    """Ask one station for a new CSR, now. (row, True): one was already waiting; that one stands."""
    with audited(ctx, actor, "certificate.renewal.request", station_id) as (session, detail):
        row, waiting = renewal.request_renewal(session, station_id, certificate_type=certificate_type,
                                               created_by=actor.name)
        detail.update(certificate_type=certificate_type, call_id=row.id, already_waiting=waiting)
    return row, waiting


def request_certificate_renewals(ctx: Context, actor: Actor, selection: renewal.Selection) -> renewal.RenewalBatch:
    """Ask every station ``selection`` matches for a new CSR, paced by [renewal] max_per_minute."""
    with audited(ctx, actor, "certificate.renewal.request", selection.describe()) as (session, detail):
        batch = renewal.queue_selected(session, selection, policy=ctx.policy, created_by=actor.name, now=utcnow())
        detail.update(queued=len(batch.queued), skipped_in_flight=len(batch.skipped),
                      stations=[q.station_id for q in batch.queued][:100])
    return batch
