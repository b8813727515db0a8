"""A station certificate's life after issuance: in use (active), replaced (superseded), revoked.

Issuance marks a station's earlier certificates superseded at once (pki.issuance), but the
station keeps using the old one until it reconnects with the new one (A02.FR.10), and it may
refuse or discard the new one (A02.FR.07/29). So a superseded certificate is revoked only once
its successor has been *used* for a grace period: never the certificate a station still needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from pki import revocation
from storage.certificates import CertKind, CertStatus, IssuedCertificate
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
    has been using a newer certificate for ``grace_hours``; 0 revokes nothing."""
    if grace_hours <= 0:
        return []
    now = now or utcnow()
    successor = aliased(IssuedCertificate)
    due = session.exec(
        select(IssuedCertificate).join(successor, (successor.station_id == IssuedCertificate.station_id)
                                       & (successor.kind == IssuedCertificate.kind)
                                       & (successor.id > IssuedCertificate.id))
        .where(IssuedCertificate.kind == CertKind.STATION,
               IssuedCertificate.status == CertStatus.SUPERSEDED,
               IssuedCertificate.not_after > now,
               successor.status == CertStatus.ACTIVE,
               successor.activated_at <= now - timedelta(hours=grace_hours))
        .order_by(IssuedCertificate.id)).unique().all()
    return [revocation.revoke(session, record.serial_hex, SUPERSEDED_REASON, issuer_id=record.issuer_id, now=now)
            for record in due]
