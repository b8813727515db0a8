"""Station certificate rows written straight to the database, for tests of what the periodic
passes read over a whole fleet (no keys, no signatures: only the columns those passes look at)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session

from storage.certificates import CertificateAuthority, CertKind, IssuedCertificate
from storage.types import utcnow

ISSUER = "ca-1"


def add_issuer(session: Session) -> None:
    """A station sub-CA under a root: rows only (revocation reads no certificate of a sub-CA)."""
    session.add(CertificateAuthority(id="ca-0", role="root", name="root", key_label="k0", certificate_pem="-"))
    session.flush()
    session.add(CertificateAuthority(id=ISSUER, role="station_sub_ca", name="ca", key_label="k", certificate_pem="-",
                                     parent_id="ca-0"))


def station_certificate(station_id: str, serial: str, status: str, *, days_left: int,
                        activated_days_ago: int = 200) -> IssuedCertificate:
    now = utcnow()
    return IssuedCertificate(issuer_id=ISSUER, serial_hex=serial, kind=CertKind.STATION, subject_cn=station_id,
                             station_id=station_id, not_before=now - timedelta(days=300),
                             not_after=now + timedelta(days=days_left), public_key_sha256=serial,
                             certificate_pem="-", status=status, activated_at=now - timedelta(days=activated_days_ago))


def certificate_rows_read(session: Session) -> int:
    """PostgreSQL: the issued_certificate rows this session's transaction has read so far."""
    return session.execute(text(
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
        "WHERE relname = 'issued_certificate'")).scalar_one()
