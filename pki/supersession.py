"""A station certificate's life after issuance: in use (active), replaced (superseded), revoked.

Issuance marks a station's earlier certificates superseded at once (pki.issuance), but the
station keeps using the old one until it reconnects with the new one (A02.FR.10), and it may
refuse or discard the new one (A02.FR.07/29). So a superseded certificate is revoked only once
its successor has been *used* for a grace period: never the certificate a station still needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from pki import revocation
from storage.certificates import CertKind, CertStatus, IssuedCertificate
from storage.filters import in_lists
from storage.types import utcnow

SUPERSEDED_REASON = "superseded"


@dataclass(frozen=True)
class Activation:
    certificate: IssuedCertificate
    superseded: tuple[str, ...]   # serials of the station's older certificates this one replaced


def activate_certificate(session: Session, record_id: int, now: datetime | None = None) -> Activation | None:
    """The station connected presenting certificate ``record_id``: an ``issued`` certificate
    becomes ``active`` and the station's older active or issued ones become ``superseded``.
    None when there is nothing to change (unknown, already active, superseded or revoked)."""
    record = session.get(IssuedCertificate, record_id)
    if record is None or record.status != CertStatus.ISSUED:
        return None
    record.status = CertStatus.ACTIVE
    record.activated_at = now or utcnow()
    session.add(record)
    older = session.exec(select(IssuedCertificate).where(
        IssuedCertificate.station_id == record.station_id, IssuedCertificate.kind == record.kind,
        IssuedCertificate.id < record.id,
        IssuedCertificate.status.in_([CertStatus.ACTIVE, CertStatus.ISSUED]))).all()
    for old in older:
        old.status = CertStatus.SUPERSEDED
        old.superseded_by = record.id
        session.add(old)
    session.flush()
    return Activation(record, tuple(old.serial_hex for old in older))


def revoke_superseded(session: Session, *, grace_hours: int, now: datetime | None = None) -> list[IssuedCertificate]:
    """Revoke (reason superseded) every unexpired superseded station certificate whose station
    has been using a newer certificate for ``grace_hours``; 0 revokes nothing.

    Read in two steps matched here, not as a self-join: over a table PostgreSQL had not analysed
    yet (just after a root rollover re-issued the fleet) the join was planned as a nested loop, a
    scan of every station certificate per superseded one (2 s for 2,100 stations; this runs every
    minute). The stations' successors are read by lists of ids (storage.filters.in_lists)."""
    if grace_hours <= 0:
        return []
    now = now or utcnow()
    superseded = session.exec(select(IssuedCertificate.id, IssuedCertificate.station_id, IssuedCertificate.serial_hex,
                                     IssuedCertificate.issuer_id).where(
        IssuedCertificate.kind == CertKind.STATION, IssuedCertificate.status == CertStatus.SUPERSEDED,
        IssuedCertificate.station_id != None, IssuedCertificate.not_after > now)  # noqa: E711
        .order_by(IssuedCertificate.id)).all()
    newest_in_use: dict[str, int] = {}
    for stations in in_lists(sorted({row.station_id for row in superseded})):
        newest_in_use.update(session.exec(
            select(IssuedCertificate.station_id, func.max(IssuedCertificate.id)).where(
                IssuedCertificate.station_id.in_(stations), IssuedCertificate.kind == CertKind.STATION,
                IssuedCertificate.status == CertStatus.ACTIVE,
                IssuedCertificate.activated_at <= now - timedelta(hours=grace_hours))
            .group_by(IssuedCertificate.station_id)).all())
    # revoke() finds each by its serial: nothing more of the row is needed here.
    return [revocation.revoke(session, row.serial_hex, SUPERSEDED_REASON, issuer_id=row.issuer_id, now=now)
            for row in superseded if newest_in_use.get(row.station_id, -1) > row.id]
