"""Operator actions, each with its audit entry in the same transaction.

The CLI and the REST API both call these, so an action is audited the same way whichever door
it came through. A refused or failed action is audited too, in a transaction of its own (the
action's transaction has rolled back), and the original error is re-raised to the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel import Session, select

from api.context import Context
from api.credentials import check_password, generate_password, hash_secret, new_token
from pki import revocation
from pki.authorities import active_authority, issue_server_certificates
from pki.issuance import IssuedChain, sign_station_csr
from storage import audit
from storage.certificates import CaRole, IssuedCertificate
from storage.db import session_scope
from storage.stations import Station
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


@dataclass(frozen=True)
class Actor:
    """Who acts: 'cli:<os user>', 'token:<id>', or 'system:<worker>'."""

    name: str


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
    _check_station_id(station_id)
    if security_profile not in (1, 2, 3):
        raise OperationRefused("station.profile", "security profile must be 1, 2 or 3")
    with _audited(ctx, actor, "station.add", station_id) as (session, detail):
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


def run_in_session(ctx: Context, work: Callable[[Session], T]) -> T:
    with session_scope(ctx.engine) as session:
        return work(session)
