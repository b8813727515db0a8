"""Activation and grace-period revocation of station certificates, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from csr_factory import make_csr
from sqlmodel import select

from api.core.audit import Actor
from api.operations.stations import add_station
from pki.issuance import sign_station_csr
from pki.supersession import activate_certificate, revoke_superseded
from storage.certificates import CertStatus, IssuedCertificate
from storage.db import session_scope
from storage.types import utcnow

STATION = "CP-SUP"


def _issue(pki) -> int:
    with session_scope(pki.ctx.engine) as session:
        issued = sign_station_csr(session, pki.ctx.keystore, station_id=STATION, csr_pem=make_csr(STATION)[0],
                                  policy=pki.ctx.policy, urls=pki.ctx.urls, lint=False)
        return issued.record.id


def _statuses(pki) -> dict[int, str]:
    with session_scope(pki.ctx.engine) as session:
        return {r.id: r.status for r in session.exec(select(IssuedCertificate).where(
            IssuedCertificate.station_id == STATION))}


def _activate(pki, record_id: int, now):
    with session_scope(pki.ctx.engine) as session:
        return activate_certificate(session, record_id, now)


def _revoke(pki, now, grace_hours: int = 24) -> list[int]:
    with session_scope(pki.ctx.engine) as session:
        return [r.id for r in revoke_superseded(session, grace_hours=grace_hours, now=now)]


def test_superseded_certificates_are_revoked_only_after_their_successor_was_used_long_enough(pki):
    add_station(pki.ctx, Actor("cli:test"), STATION, security_profile=3)
    t0 = utcnow()
    first = _issue(pki)
    assert _activate(pki, first, t0).superseded == ()
    second = _issue(pki)  # issuance marks the first superseded at once ...
    assert _statuses(pki) == {first: CertStatus.SUPERSEDED, second: CertStatus.ISSUED}
    assert _revoke(pki, t0 + timedelta(days=100)) == []  # ... but the station still uses it

    t1 = t0 + timedelta(days=1)
    activation = _activate(pki, second, t1)
    assert activation.certificate.activated_at == t1
    assert _activate(pki, second, t1) is None  # already active: nothing to do
    assert _revoke(pki, t1 + timedelta(hours=23)) == []
    assert _revoke(pki, t1 + timedelta(hours=30), grace_hours=0) == []  # 0: never
    assert _revoke(pki, t1 + timedelta(hours=24)) == [first]
    assert _statuses(pki) == {first: CertStatus.REVOKED, second: CertStatus.ACTIVE}

    third = _issue(pki)  # a renewal the station never used: the active one stays usable
    assert _revoke(pki, t1 + timedelta(days=300)) == []
    assert _statuses(pki)[second] == CertStatus.SUPERSEDED and _statuses(pki)[third] == CertStatus.ISSUED
