"""Station registry operations (add, list, disable, enable, delete, password, profile), each audited.

A change that ends what a live connection may do also asks for that connection to close
(api/ocpp/transport/disconnects.py), in the same transaction: admission refuses the next connect itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func
from sqlmodel import Session, select

from api.core.audit import Actor, audited, note_reason, operator_reason, require_station
from api.core.context import Context
from api.core.credentials import check_password, generate_password, hash_secret
from api.core.refusal import Conflict, Refusal, RoleRequired
from api.csms.provisioning.device_model import forget_device
from api.ocpp.transport.disconnects import request_disconnect
from pki import revocation
from policies.names import IDENTITY_MAX, check_station_identity
from storage.certificate_requests import CertificateRequest
from storage.certificates import CertKind, CertStatus, IssuedCertificate
from storage.connector_status import ConnectorState, ConnectorStatusEvent
from storage.db import session_scope
from storage.id_tokens import LocalListEntry, LocalListState, MasterPassGroup
from storage.outbox import OutboundCall
from storage.stations import InstalledCertificate, Station
from storage.tariffs import Tariff
from storage.types import utcnow

STATION_ID_MAX = IDENTITY_MAX


def _check_station_id(station_id: str) -> None:
    # Admission applies the same rule to the URL (api/ocpp/admission/filters.parse_identity).
    decision = check_station_identity(station_id)
    if not decision:
        raise Refusal("station.id", decision.reason, details={"check": decision.rule})


@dataclass(frozen=True)
class NewStation:
    station: Station
    password: str | None  # shown once when generated, never stored in clear


def add_station(ctx: Context, actor: Actor, station_id: str, *, security_profile: int = 2,
                password: str | None = None, generate: bool = True) -> NewStation:
    with audited(ctx, actor, "station.add", station_id[:200]) as (session, detail):
        _check_station_id(station_id)
        if security_profile not in (1, 2, 3):
            raise Refusal("station.profile", "security profile must be 1, 2 or 3")
        if session.get(Station, station_id) is not None:
            raise Conflict("station.exists", f"station {station_id!r} already exists")
        # A station identity is an identifierString, which OCPP compares without case: CP-1 and
        # cp-1 are one station, and two rows for it would split its certificates and history.
        twin = session.exec(select(Station.id).where(func.lower(Station.id) == station_id.lower())).first()
        if twin is not None:
            raise Conflict("station.exists", f"station {twin!r} already exists; identities differing only in "
                                             f"case are one station (OCPP identifierString)")
        clear = password
        if clear is not None:
            problem = check_password(clear)
            if problem:
                raise Refusal("station.password", problem)
        elif generate and security_profile in (1, 2):
            clear = generate_password()
        station = Station(id=station_id, security_profile=security_profile,
                          password_hash=hash_secret(clear) if clear else None)
        session.add(station)
        detail.update(security_profile=security_profile, password_set=clear is not None)
    return NewStation(station, clear if password is None else None)


def list_stations(ctx: Context) -> list[Station]:
    with session_scope(ctx.engine) as session:
        return list(session.exec(select(Station).order_by(Station.id)))


STATION_DELETED_REASON = "cessationOfOperation"


def disable_station(ctx: Context, actor: Actor, station_id: str, reason: str | None = None) -> Station:
    """The kill switch: refused at admission from now on, its live connections closed at once."""
    with audited(ctx, actor, "station.disable", station_id) as (session, detail):
        station = require_station(session, station_id)
        detail["was_enabled"] = station.enabled
        note_reason(detail, reason)
        station.enabled = False
        station.updated_at = utcnow()
        session.add(station)
        request_disconnect(session, station_id, "station disabled by the operator")
    return station


def enable_station(ctx: Context, actor: Actor, station_id: str) -> Station:
    with audited(ctx, actor, "station.enable", station_id) as (session, detail):
        station = require_station(session, station_id)
        detail["was_enabled"] = station.enabled
        station.enabled = True
        station.updated_at = utcnow()
        session.add(station)
    return station


def delete_station(ctx: Context, actor: Actor, station_id: str, reason: str | None = None) -> list[str]:
    """Forget a station: its certificates still valid are revoked (cessationOfOperation) so that
    a station registered later under the same identity cannot be impersonated with them, its
    inventory, queued calls and accepted CSRs go, its live connections close. The audit log keeps its history.
    Returns the serials revoked."""
    with audited(ctx, actor, "station.delete", station_id) as (session, detail):
        require_station(session, station_id)
        live = session.exec(select(IssuedCertificate).where(
            IssuedCertificate.station_id == station_id,
            IssuedCertificate.kind.in_([CertKind.STATION, CertKind.V2G]),
            IssuedCertificate.status != CertStatus.REVOKED)).all()
        revoked = [revocation.revoke(session, r.serial_hex, STATION_DELETED_REASON, issuer_id=r.issuer_id).serial_hex
                   for r in live]
        session.execute(delete(InstalledCertificate).where(InstalledCertificate.station_id == station_id))
        session.execute(delete(OutboundCall).where(OutboundCall.station_id == station_id))
        session.execute(delete(CertificateRequest).where(CertificateRequest.station_id == station_id))
        _forget_station_settings(session, station_id)
        session.execute(delete(Station).where(Station.id == station_id))
        request_disconnect(session, station_id, "station deleted by an officer")
        detail["revoked"] = revoked[:100]
        note_reason(detail, reason)
    return revoked


def _forget_station_settings(session: Session, station_id: str) -> None:
    """What described this station's device and its settings goes with it: a station registered
    again under the identity is a new device (its local list starts with a full update, it
    reports its own connectors and device model, it gets the default tariff and master-pass group,
    it is onboarded again). Its records
    (transactions, meter values, reservations, remote starts, availability changes) stay, as the
    audit log does."""
    for table, column in ((LocalListEntry, LocalListEntry.station_id), (LocalListState, LocalListState.station_id),
                          (ConnectorStatusEvent, ConnectorStatusEvent.station_id),
                          (ConnectorState, ConnectorState.station_id),
                          (MasterPassGroup, MasterPassGroup.scope), (Tariff, Tariff.scope)):
        session.execute(delete(table).where(column == station_id))
    forget_device(session, station_id)


def set_station_password(ctx: Context, actor: Actor, station_id: str, password: str) -> Station:
    """Give the station a known Basic-auth password (e.g. the one provisioned at the factory),
    under the password policy. Any A01 rotation still unresolved is dropped with it. The
    password is never logged or audited."""
    with audited(ctx, actor, "station.password.set", station_id) as (session, detail):
        station = require_station(session, station_id)
        problem = check_password(password)
        if problem:
            raise Refusal("station.password", problem)
        detail["dropped_pending_rotation"] = station.pending_password_hash is not None
        station.password_hash = hash_secret(password)
        station.pending_password_hash = None
        station.updated_at = utcnow()
        session.add(station)
    return station


def set_security_profile(ctx: Context, actor: Actor, station_id: str, profile: int,
                         reason: str | None = None) -> Station:
    """The profile the station must connect with from now on; connections on another profile
    close. Raising it: officer or operator (over OCPP the A05 upgrade is the gentle way).
    Lowering it weakens how the station proves who it is: an officer, with a reason."""
    with audited(ctx, actor, "station.security_profile.set", station_id) as (session, detail):
        station = require_station(session, station_id)
        current = station.security_profile
        detail.update(current=current, target=profile)
        if profile not in (1, 2, 3):
            raise Refusal("station.profile", "security profile must be 1, 2 or 3")
        if profile < current:
            if actor.role != "officer":
                raise RoleRequired("station.profile.lower",
                                   f"lowering station {station_id!r} from profile {current} to {profile} needs "
                                   f"the role officer; {actor.name} has the role {actor.role}", ["officer"])
            if operator_reason(reason) is None:
                raise Refusal("station.profile.reason",
                                       "lowering a security profile needs a reason for the audit log")
            note_reason(detail, reason)
        if profile in (1, 2) and station.password_hash is None:
            raise Refusal("station.profile.no_password",
                                   f"profile {profile} authenticates with a Basic-auth password and the station has "
                                   "none: set one first (PUT /api/v1/stations/{id}/password)")
        station.security_profile = profile
        station.pending_security_profile = None
        station.updated_at = utcnow()
        session.add(station)
        if profile != current:
            request_disconnect(session, station_id, f"security profile changed to {profile}", keep_profile=profile)
    return station
