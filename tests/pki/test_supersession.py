"""Activation and grace-period revocation of station certificates, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from certificate_rows import add_issuer, certificate_rows_read, station_certificate
from csr_factory import make_csr
from sqlmodel import Session, select

from api.core.audit import Actor
from api.operations.stations import add_station
from pki.issuance import sign_station_csr
from pki.supersession import activate_certificate, revoke_superseded
from storage.certificates import CertStatus, IssuedCertificate
from storage.db import make_engine, session_scope
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


FLEET = 1201   # three lists of ids (storage.filters.KEYS_PER_STATEMENT)


def _rolled_over_fleet(session) -> list[int]:
    """Every station re-issued (a root rollover): its old certificate superseded. Every other
    station has used its new one for two days, the rest for an hour only; the ids due."""
    add_issuer(session)
    old = []
    for n in range(FLEET):
        station_id = f"CS-{n:05d}"
        record = station_certificate(station_id, f"{n + 1:x}0", CertStatus.SUPERSEDED, days_left=100)
        session.add(record)
        session.add(station_certificate(station_id, f"{n + 1:x}1", CertStatus.ACTIVE, days_left=700,
                                        activated_days_ago=2 if n % 2 == 0 else 0))
        old.append(record)
    session.commit()
    return [record.id for n, record in enumerate(old) if n % 2 == 0]


def test_after_a_rollover_every_station_past_its_grace_period_is_revoked_across_every_list(engine):
    with Session(engine) as session:
        due = _rolled_over_fleet(session)
        revoked = [(record.id, record.status) for record in revoke_superseded(session, grace_hours=24)]
        session.commit()
    assert revoked == [(record_id, CertStatus.REVOKED) for record_id in due]


@pytest.mark.postgres
def test_the_grace_period_pass_reads_each_certificate_a_few_times_not_once_per_station(postgres_url):
    """Before the table was analysed (right after a rollover), the self-join finding each
    superseded certificate's successor was planned as a nested loop over every station
    certificate: 2 s for 2,100 stations, every minute."""
    engine = make_engine(postgres_url)
    try:
        with Session(engine) as session:
            due = _rolled_over_fleet(session)
            before = certificate_rows_read(session)
            revoke_superseded(session, grace_hours=24)
            read = certificate_rows_read(session) - before
    finally:
        engine.dispose()
    assert read <= 10 * 2 * FLEET, f"{read} certificate rows read to revoke {len(due)} of {2 * FLEET}"
