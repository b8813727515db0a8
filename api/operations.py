"""Operator actions, each with its audit entry in the same transaction.

The CLI and the REST API both call these, so an action is audited the same way whichever door
it came through. A refused or failed action is audited too, in a transaction of its own (the
action's transaction has rolled back), and the original error is re-raised to the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete
from sqlmodel import Session, select

from api.context import Context
from api.credentials import PASSWORD_MAX, PASSWORD_MIN, check_password, generate_password, hash_secret, new_token
from api.ocpp import renewal
from api.ocpp.disconnects import disconnect_revoked, request_disconnect
from pki import revocation, rollover, v2g
from pki.authorities import Authority, active_authority, all_authorities, issue_server_certificates
from pki.issuance import IssuedChain, sign_station_csr
from storage import audit
from storage.certificate_requests import CertificateRequest
from storage.certificates import CaRole, CertKind, CertStatus, IssuedCertificate
from storage.db import session_scope
from storage.outbox import OutboundCall
from storage.stations import InstalledCertificate, Station
from storage.tokens import ApiToken
from storage.types import utcnow

T = TypeVar("T")

ROLES = ("officer", "operator", "auditor")
STATION_ID_MAX = 48


class OperationRefused(ValueError):
    """The request is understood but not allowed; ``rule`` names why (e.g. 'station.exists')."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule


class RoleRequired(OperationRefused):
    """The actor's role may not do this (REST answers 403); ``required_roles`` says who may."""

    def __init__(self, rule: str, reason: str, required_roles: list[str]) -> None:
        super().__init__(rule, reason)
        self.required_roles = required_roles


@dataclass(frozen=True)
class Actor:
    """Who acts: 'cli:<os user>', 'token:<id>', or 'system:<worker>', and with which role.

    ``role`` is what decides a role-dependent action whichever door it came through (REST: the
    token's role; CLI: officer, since it runs with the data directory and the key passphrase);
    None: unknown, which holds no role's rights."""

    name: str
    role: str | None = None


@contextmanager
def _audited(ctx: Context, actor: Actor, action: str, target: str) -> Iterator[tuple[Session, dict[str, Any]]]:
    detail: dict[str, Any] = {}
    try:
        with session_scope(ctx.engine) as session:
            yield session, detail
            audit.append(session, actor=actor.name, action=action, target=target,
                         outcome=audit.Outcome.SUCCESS, detail=detail)
    except Exception as exc:
        outcome = audit.Outcome.REFUSED if isinstance(exc, (ValueError, LookupError)) else audit.Outcome.FAILED
        rule = getattr(exc, "rule", None) or getattr(getattr(exc, "decision", None), "rule", None)
        try:
            with session_scope(ctx.engine) as session:
                audit.append(session, actor=actor.name, action=action, target=target, outcome=outcome,
                             detail={**detail, "error": str(exc)[:500], **({"rule": rule} if rule else {})})
        except Exception:  # noqa: BLE001 - the database may be the thing that failed
            pass
        raise


def record_denied(ctx: Context, actor: Actor, request: str, required_roles: list[str]) -> None:
    """An attempted change refused for lack of a role: audited, though nothing ran."""
    with session_scope(ctx.engine) as session:
        audit.append(session, actor=actor.name, action="api.denied", target=request[:200],
                     outcome=audit.Outcome.REFUSED, detail={"required_roles": required_roles})


def _check_station_id(station_id: str) -> None:
    if not station_id or len(station_id) > STATION_ID_MAX or ":" in station_id or "/" in station_id:
        raise OperationRefused("station.id", f"station identity must be 1-{STATION_ID_MAX} characters "
                                             "without ':' or '/' (OCPP identifierString)")


@dataclass(frozen=True)
class NewStation:
    station: Station
    password: str | None  # shown once when generated, never stored in clear


def add_station(ctx: Context, actor: Actor, station_id: str, *, security_profile: int = 2,
                password: str | None = None, generate: bool = True) -> NewStation:
    with _audited(ctx, actor, "station.add", station_id[:200]) as (session, detail):
        _check_station_id(station_id)
        if security_profile not in (1, 2, 3):
            raise OperationRefused("station.profile", "security profile must be 1, 2 or 3")
        if session.get(Station, station_id) is not None:
            raise OperationRefused("station.exists", f"station {station_id!r} already exists")
        clear = password
        if clear is not None:
            problem = check_password(clear)
            if problem:
                raise OperationRefused("station.password", problem)
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


# --- Station upkeep: the kill switch, credentials and profile --------------------------------
# A change that ends what a live connection may do also asks for that connection to close
# (api/ocpp/disconnects.py), in the same transaction: admission refuses the next connect itself.

STATION_DELETED_REASON = "cessationOfOperation"


def _reason(reason: str | None) -> str | None:
    return reason.strip()[:500] if reason and reason.strip() else None


def _note_reason(detail: dict[str, Any], reason: str | None) -> None:
    """An operator's reason goes to the audit entry when one was given."""
    if _reason(reason):
        detail["reason"] = _reason(reason)


def disable_station(ctx: Context, actor: Actor, station_id: str, reason: str | None = None) -> Station:
    """The kill switch: refused at admission from now on, its live connections closed at once."""
    with _audited(ctx, actor, "station.disable", station_id) as (session, detail):
        station = _station(session, station_id)
        detail["was_enabled"] = station.enabled
        _note_reason(detail, reason)
        station.enabled = False
        station.updated_at = utcnow()
        session.add(station)
        request_disconnect(session, station_id, "station disabled by the operator")
    return station


def enable_station(ctx: Context, actor: Actor, station_id: str) -> Station:
    with _audited(ctx, actor, "station.enable", station_id) as (session, detail):
        station = _station(session, station_id)
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
    with _audited(ctx, actor, "station.delete", station_id) as (session, detail):
        _station(session, station_id)
        live = session.exec(select(IssuedCertificate).where(
            IssuedCertificate.station_id == station_id,
            IssuedCertificate.kind.in_([CertKind.STATION, CertKind.V2G]),
            IssuedCertificate.status != CertStatus.REVOKED)).all()
        revoked = [revocation.revoke(session, r.serial_hex, STATION_DELETED_REASON, issuer_id=r.issuer_id).serial_hex
                   for r in live]
        session.execute(delete(InstalledCertificate).where(InstalledCertificate.station_id == station_id))
        session.execute(delete(OutboundCall).where(OutboundCall.station_id == station_id))
        session.execute(delete(CertificateRequest).where(CertificateRequest.station_id == station_id))
        session.execute(delete(Station).where(Station.id == station_id))
        request_disconnect(session, station_id, "station deleted by an officer")
        detail["revoked"] = revoked[:100]
        _note_reason(detail, reason)
    return revoked


def set_station_password(ctx: Context, actor: Actor, station_id: str, password: str) -> Station:
    """Give the station a known Basic-auth password (e.g. the one provisioned at the factory),
    under the password policy. Any A01 rotation still unresolved is dropped with it. The
    password is never logged or audited."""
    with _audited(ctx, actor, "station.password.set", station_id) as (session, detail):
        station = _station(session, station_id)
        problem = check_password(password)
        if problem:
            raise OperationRefused("station.password", problem)
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
    with _audited(ctx, actor, "station.security_profile.set", station_id) as (session, detail):
        station = _station(session, station_id)
        current = station.security_profile
        detail.update(current=current, target=profile)
        if profile not in (1, 2, 3):
            raise OperationRefused("station.profile", "security profile must be 1, 2 or 3")
        if profile < current:
            if actor.role != "officer":
                raise RoleRequired("station.profile.lower",
                                   f"lowering station {station_id!r} from profile {current} to {profile} needs "
                                   f"the role officer; {actor.name} has the role {actor.role}", ["officer"])
            if _reason(reason) is None:
                raise OperationRefused("station.profile.reason",
                                       "lowering a security profile needs a reason for the audit log")
            _note_reason(detail, reason)
        if profile in (1, 2) and station.password_hash is None:
            raise OperationRefused("station.profile.no_password",
                                   f"profile {profile} authenticates with a Basic-auth password and the station has "
                                   "none: set one first (PUT /api/v1/stations/{id}/password)")
        station.security_profile = profile
        station.pending_security_profile = None
        station.updated_at = utcnow()
        session.add(station)
        if profile != current:
            request_disconnect(session, station_id, f"security profile changed to {profile}", keep_profile=profile)
    return station


def sign_csr(ctx: Context, actor: Actor, station_id: str, csr_pem: str, *, lint: bool = True) -> IssuedChain:
    with _audited(ctx, actor, "certificate.sign", station_id) as (session, detail):
        issued = sign_station_csr(session, ctx.keystore, station_id=station_id, csr_pem=csr_pem,
                                  policy=ctx.policy, urls=ctx.urls, lint=lint)
        detail.update(serial=issued.record.serial_hex, issuer=issued.issuer.id,
                      ignored_csr_extensions=list(issued.ignored_extensions))
    return issued


def revoke_certificate(ctx: Context, actor: Actor, serial: str, reason: str,
                       issuer_id: str | None = None) -> IssuedCertificate:
    with _audited(ctx, actor, "certificate.revoke", serial) as (session, detail):
        record = revocation.revoke(session, serial, reason, issuer_id=issuer_id)
        disconnect_revoked(session, record)  # its live connections close once this commits
        detail.update(reason=record.revocation_reason, station=record.station_id, issuer=record.issuer_id)
    return record


def renew_server_certificates(ctx: Context, actor: Actor, fqdn: str) -> list[IssuedCertificate]:
    with _audited(ctx, actor, "server_certificate.renew", fqdn) as (session, detail):
        issued = issue_server_certificates(session, ctx.keystore, fqdn=fqdn, policy=ctx.policy, urls=ctx.urls)
        detail.update(serials=[r.serial_hex for r in issued])
    return issued


@dataclass(frozen=True)
class NewToken:
    record: ApiToken
    token: str  # shown once


def create_token(ctx: Context, actor: Actor, role: str, name: str) -> NewToken:
    if role not in ROLES:
        raise OperationRefused("token.role", f"role must be one of {', '.join(ROLES)}")
    token_id, secret, token = new_token()
    with _audited(ctx, actor, "token.create", token_id) as (session, detail):
        record = ApiToken(id=token_id, name=name[:100], role=role, secret_hash=hash_secret(secret),
                          created_by=actor.name)
        session.add(record)
        detail.update(role=role, name=record.name)
    return NewToken(record, token)


def revoke_token(ctx: Context, actor: Actor, token_id: str) -> ApiToken:
    with _audited(ctx, actor, "token.revoke", token_id) as (session, _detail):
        record = session.get(ApiToken, token_id)
        if record is None:
            raise LookupError(f"no API token {token_id}")
        if record.revoked_at is None:
            record.revoked_at = utcnow()
            session.add(record)
    return record


def crl_der(ctx: Context, ca_id: str | None = None) -> bytes:
    """The CRL of ``ca_id`` (default: the station CA). Re-signing is not an operator action."""
    with session_scope(ctx.engine) as session:
        ca_id = ca_id or active_authority(session, CaRole.STATION).id
        return revocation.current_crl(session, ctx.keystore, ca_id, ctx.policy)


def list_authorities(ctx: Context) -> list[Authority]:
    """Every CA (root, station, server, V2G; retired ones too), oldest first: what `ca list` and
    GET /api/v1/ca show."""
    return run_in_session(ctx, all_authorities)


@dataclass(frozen=True)
class V2gCa:
    authority: Authority
    created: bool


def create_v2g_ca(ctx: Context, actor: Actor) -> V2gCa:
    """The V2G (ISO 15118) sub-CA under the active root, created on the first call; later calls
    return it unchanged (``created`` False). Either way audited as ca.v2g.create."""
    with _audited(ctx, actor, "ca.v2g.create", "v2g") as (session, detail):
        before = v2g.v2g_authority(session)
        authority = v2g.ensure_v2g_ca(session, ctx.keystore, policy=ctx.policy, urls=ctx.urls)
        created = before is None or before.id != authority.id
        detail.update(ca=authority.id, created=created)
    return V2gCa(authority, created)


def run_in_session(ctx: Context, work: Callable[[Session], T]) -> T:
    with session_scope(ctx.engine) as session:
        return work(session)


# --- Station operations carried out over OCPP -------------------------------------------------
# The gateway sends; these decide and record, before and after, so an action whose answer is
# lost (the process or the connection dies) is still on record. No transaction stays open
# while a station is being waited for.

BOOT_POLICIES = ("Accepted", "Pending", "Rejected")
PASSWORD_LENGTH_MAX = 64  # the largest maxLimit a station may announce for BasicAuthPassword (A00.FR.205)


def _station(session: Session, station_id: str) -> Station:
    station = session.get(Station, station_id)
    if station is None:
        raise LookupError(f"station {station_id!r} is not registered")
    return station


def set_boot_policy(ctx: Context, actor: Actor, station_id: str, status: str | None) -> Station:
    """How the station's next BootNotification is answered; None: the gateway default."""
    if status is not None and status not in BOOT_POLICIES:
        raise OperationRefused("station.boot_policy", f"boot policy must be one of {', '.join(BOOT_POLICIES)}")
    with _audited(ctx, actor, "station.boot_policy", station_id) as (session, detail):
        station = _station(session, station_id)
        station.boot_policy = status
        station.updated_at = utcnow()
        session.add(station)
        detail["status"] = status or "default"
    return station


def begin_station_call(ctx: Context, actor: Actor, station_id: str, action: str, payload: dict[str, Any], *,
                       check: Callable[[Session, Station, str, dict[str, Any]], None],
                       persist: bool) -> OutboundCall | None:
    """Record an operator's CSMS-initiated call before it is sent.

    ``check(session, station, action, payload)`` raises OperationRefused (RoleRequired for a
    missing role) for a call that must not go out (audited as refused).
    With ``persist`` the call is stored as a pending OutboundCall (persist first, then push) and
    returned. The payload is never copied into the audit entry: it may carry credentials.
    """
    with _audited(ctx, actor, "station.call", station_id) as (session, detail):
        detail.update(action=action, mode="async" if persist else "sync", role=actor.role)
        check(session, _station(session, station_id), action, payload)
        if not persist:
            return None
        row = OutboundCall(station_id=station_id, action=action, payload=json.dumps(payload),
                           purpose="operator", created_by=actor.name)
        session.add(row)
        session.flush()
        detail["call_id"] = row.id
        return row


def record_call_result(ctx: Context, actor: Actor, station_id: str, action: str, status: str, *,
                       error_code: str | None = None, call_id: int | None = None) -> None:
    with _audited(ctx, actor, "station.call.result", station_id) as (_session, detail):
        detail.update(action=action, status=status)
        if error_code:
            detail["error_code"] = error_code
        if call_id is not None:
            detail["call_id"] = call_id


def begin_password_rotation(ctx: Context, actor: Actor, station_id: str, length: int = PASSWORD_MAX) -> str:
    """A01, before sending: a new random Basic-auth password whose hash is stored as the pending
    one, so that from now on the station may authenticate with the old or the new password.

    Returns the password in clear for the caller to send in SetVariables and then forget; it is
    never stored, logged or audited.
    """
    if not PASSWORD_MIN <= length <= PASSWORD_LENGTH_MAX:
        raise OperationRefused("station.password_length",
                               f"password length must be {PASSWORD_MIN} to {PASSWORD_LENGTH_MAX} (A00.FR.205)")
    with _audited(ctx, actor, "station.password.rotate", station_id) as (session, detail):
        station = _station(session, station_id)
        if station.security_profile == 3:
            raise OperationRefused("station.password.profile",
                                   "the station authenticates with a client certificate (profile 3), "
                                   "not with a Basic-auth password")
        if station.pending_password_hash is not None:
            # A third password would leave the station locked out if it applied the earlier one
            # late; its next authentication resolves the earlier rotation first.
            raise OperationRefused("station.password.pending",
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
    with _audited(ctx, actor, "station.password.rotate.result", station_id) as (session, detail):
        detail["answer"] = answer
        station = _station(session, station_id)
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


# --- Trust anchors on stations (M03/M04/M05) ----------------------------------------------------
# api/ocpp/trust_anchors.py decides inside ``begin_trust_anchor_change`` (a policy refusal is
# audited as refused, with its rule, and nothing is sent), then records the station's answer,
# and what it reported, with ``record_trust_anchor_result``.

def begin_trust_anchor_change(ctx: Context, actor: Actor, action: str, station_id: str,
                              prepare: Callable[[Session, dict[str, Any]], T]) -> T:
    """Run ``prepare(session, audit_detail)`` for a registered station in one audited transaction.
    ``prepare`` raises OperationRefused (or LookupError) to stop the change before it is sent."""
    with _audited(ctx, actor, action, station_id) as (session, detail):
        _station(session, station_id)
        return prepare(session, detail)


def record_trust_anchor_result(ctx: Context, actor: Actor, action: str, station_id: str, detail: dict[str, Any],
                               store: Callable[[Session], None] | None = None) -> None:
    """Audit how the station answered; ``store`` writes what it reported in the same transaction."""
    with _audited(ctx, actor, action, station_id) as (session, entry):
        entry.update(detail)
        if store is not None:
            store(session)


# --- A05: security-profile upgrade --------------------------------------------------------------

def begin_profile_upgrade(ctx: Context, actor: Actor, station_id: str, target: int,
                          prerequisites: Callable[[Session, Station], None]) -> Station:
    """A05, before anything is sent: the target must be higher than the station's profile, and
    ``prerequisites`` (raising OperationRefused) must hold. Audited either way."""
    with _audited(ctx, actor, "station.profile.upgrade", station_id) as (session, detail):
        station = _station(session, station_id)
        detail.update(current=station.security_profile, target=target)
        if not station.security_profile < target <= 3:
            raise OperationRefused("upgrade.target", f"station is on profile {station.security_profile}; "
                                                     f"it can only be upgraded to a higher profile, at most 3")
        prerequisites(session, station)
    return station


def arm_profile_upgrade(ctx: Context, actor: Actor, station_id: str, target: int) -> None:
    """A05, once the station took the new network profile and before it is reset: admission now
    also accepts ``target``, and the first connection under it makes it the station's profile for
    good (A05.FR.07), whether or not the answer to Reset ever arrives."""
    with _audited(ctx, actor, "station.profile.pending", station_id) as (session, detail):
        station = _station(session, station_id)
        station.pending_security_profile = target
        station.updated_at = utcnow()
        session.add(station)
        detail["target"] = target


# --- Station certificate renewal (A02) --------------------------------------------------------
# Stored renewal requests (api/ocpp/renewal.py); the outbox worker of the running service sends
# them when the station is connected, so these work from the CLI with or without the service up.

def request_certificate_renewal(ctx: Context, actor: Actor, station_id: str,
                                certificate_type: str = renewal.CHARGING_STATION_CERTIFICATE
                                ) -> tuple[OutboundCall, bool]:
    """Ask one station for a new CSR, now. (row, True): one was already waiting; that one stands."""
    with _audited(ctx, actor, "certificate.renewal.request", station_id) as (session, detail):
        row, waiting = renewal.request_renewal(session, station_id, certificate_type=certificate_type,
                                               created_by=actor.name)
        detail.update(certificate_type=certificate_type, call_id=row.id, already_waiting=waiting)
    return row, waiting


def request_certificate_renewals(ctx: Context, actor: Actor, selection: renewal.Selection) -> renewal.RenewalBatch:
    """Ask every station ``selection`` matches for a new CSR, paced by [renewal] max_per_minute."""
    with _audited(ctx, actor, "certificate.renewal.request", selection.describe()) as (session, detail):
        batch = renewal.queue_selected(session, selection, policy=ctx.policy, created_by=actor.name, now=utcnow())
        detail.update(queued=len(batch.queued), skipped_in_flight=len(batch.skipped),
                      stations=[q.station_id for q in batch.queued][:100])
    return batch


# --- CSMS root rollover (api/rotation/csms_root.py) -----------------------------------------------
# Each step of pki.rollover in one audited transaction. A RolloverError (the state does not allow
# the step) is audited and raised as a refusal with rule rollover.state.

@contextmanager
def _rollover_step() -> Iterator[None]:
    try:
        yield
    except rollover.RolloverError as exc:
        raise OperationRefused("rollover.state", str(exc)) from None


def stage_generation(ctx: Context, actor: Actor) -> rollover.StagedGeneration:
    """Root G(n+1) and its sub-CAs, inactive; the staged one again when it exists already."""
    with _audited(ctx, actor, "ca.rollover.stage", "csms-root") as (session, detail), _rollover_step():
        staged = rollover.stage_next_generation(session, ctx.keystore, policy=ctx.policy, urls=ctx.urls)
        detail.update(generation=staged.generation, authorities={a.record.role: a.id for a in staged.authorities})
    return staged


def root_for_station(ctx: Context, actor: Actor, station_id: str, *, generation: int,
                     station_holds: int) -> rollover.RootToInstall:
    """``generation``'s root cross-signed by the root the station holds (AdditionalRootCertificateCheck);
    the cross certificate is made on first use and kept."""
    with _audited(ctx, actor, "ca.rollover.cross_certificate", station_id) as (session, detail), _rollover_step():
        root = rollover.root_to_install(session, ctx.keystore, generation=generation, additional_root_check=True,
                                        urls=ctx.urls, station_holds=station_holds)
        detail.update(generation=generation, signed_by_generation=station_holds)
    return root


def activate_generation(ctx: Context, actor: Actor, generation: int) -> list[IssuedCertificate]:
    """``generation`` issues from now on, and the CSMS serves server certificates of its server CA
    (the ones served already when an earlier run switched)."""
    with _audited(ctx, actor, "ca.rollover.activate", f"generation {generation}") as (session, detail), \
            _rollover_step():
        rollover.activate_generation(session, generation)
        served = rollover.switch_server_certificates(session, ctx.keystore, generation=generation,
                                                     policy=ctx.policy, urls=ctx.urls)
        detail.update(server_certificates=[r.serial_hex for r in served])
    return served


def retire_generation(ctx: Context, actor: Actor, generation: int, *, force: bool = False,
                      reason: str | None = None) -> list[str]:
    """``generation`` is trusted no more. Forcing it past stations that still depend on it needs a
    reason, kept in the audit entry with those stations."""
    if force and not (reason and reason.strip()):
        raise OperationRefused("rollover.force_reason", "forcing a retirement needs a non-empty reason for the "
                                                        "audit log")
    with _audited(ctx, actor, "ca.rollover.retire", f"generation {generation}") as (session, detail), \
            _rollover_step():
        stations = rollover.retire_generation(session, generation, force=force)
        if force:
            detail.update(forced=True, reason=reason.strip(), stations_still_on_it=stations[:100])
    return stations
