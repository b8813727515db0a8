"""Revoking certificates and publishing their status: CRLs and OCSP answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from sqlmodel import Session, select

from pki import crl as crl_builder
from pki import ocsp
from pki.authorities import all_authorities, authority_by_id
from pki.keystore import KeyStore
from pki.serials import serial_hex
from policies.model import Policy
from policies.refusal import Conflict, NotFound, Refusal
from storage.certificates import CertificateAuthority, CertStatus, IssuedCertificate
from storage.types import utcnow

# The RFC 5280 reasons a certificate can be revoked with. removeFromCRL names the undoing of a
# hold in delta CRLs; stored as a reason it would make every later full CRL unbuildable.
REVOKE_REASONS: tuple[str, ...] = tuple(name for name, flag in crl_builder.REVOCATION_REASONS.items()
                                        if flag is not x509.ReasonFlags.remove_from_crl)


class RevocationError(Refusal):
    """A revocation (or a look-up by serial) breaks a rule; ``rule`` names it."""


class AlreadyRevoked(RevocationError, Conflict):
    """The certificate is revoked already; its first revocation time and reason stand."""


def find_certificate(session: Session, serial: str, issuer_id: str | None = None) -> IssuedCertificate:
    """Look a certificate up by serial (hex, any case, leading zeros allowed)."""
    try:
        normalized = serial_hex(int(serial.lower().removeprefix("0x"), 16))
    except ValueError as exc:
        raise RevocationError("revocation.serial", f"{serial!r} is not a hexadecimal serial number") from exc
    query = select(IssuedCertificate).where(IssuedCertificate.serial_hex == normalized)
    if issuer_id:
        query = query.where(IssuedCertificate.issuer_id == issuer_id)
    matches = session.exec(query).all()
    if not matches:
        raise NotFound("certificate.unknown", f"no certificate with serial {normalized}")
    if len(matches) > 1:
        raise RevocationError("revocation.ambiguous", f"serial {normalized} exists under several issuers; name the issuer")
    return matches[0]


def revoke(session: Session, serial: str, reason: str, *, issuer_id: str | None = None,
           now: datetime | None = None) -> IssuedCertificate:
    if reason.strip() == "removeFromCRL":
        raise RevocationError("revocation.reason", "removeFromCRL is not a revocation reason (it only appears in delta CRLs)")
    if reason.strip() not in REVOKE_REASONS:
        raise RevocationError("revocation.reason",
                              f"unknown revocation reason {reason!r}; valid reasons: {', '.join(REVOKE_REASONS)}",
                              details={"valid_reasons": list(REVOKE_REASONS)})
    reason_flag = crl_builder.parse_reason(reason)
    record = find_certificate(session, serial, issuer_id)
    if record.status == CertStatus.REVOKED:
        raise AlreadyRevoked("revocation.already_revoked", f"certificate {record.serial_hex} is already revoked ({record.revocation_reason})")
    if record.issuer_id == _self_issuer(session, record):
        raise RevocationError("revocation.root", "a root certificate cannot be revoked by its own CRL; retire the root instead")
    record.status = CertStatus.REVOKED
    record.revoked_at = now or utcnow()
    record.revocation_reason = reason_flag.value
    session.add(record)
    issuer = session.get(CertificateAuthority, record.issuer_id)
    issuer.crl_stale = True
    session.add(issuer)
    session.flush()
    return record


def _self_issuer(session: Session, record: IssuedCertificate) -> str | None:
    authority = session.exec(select(CertificateAuthority).where(
        CertificateAuthority.id == record.issuer_id, CertificateAuthority.parent_id == None)).first()  # noqa: E711
    if authority is None:
        return None
    own = x509.load_pem_x509_certificate(authority.certificate_pem.encode())
    return record.issuer_id if serial_hex(own.serial_number) == record.serial_hex else None


def current_crl(session: Session, keystore: KeyStore, ca_id: str, policy: Policy,
                now: datetime | None = None) -> bytes:
    """The CA's CRL (DER). Re-signed with the next CRLNumber only when a revocation made it
    stale or half of its lifetime has passed, so every reader sees the same CRL meanwhile."""
    now = now or utcnow()
    authority = authority_by_id(session, ca_id)
    if authority is None:
        raise NotFound("ca.unknown", f"no certificate authority {ca_id}")
    record = session.get(CertificateAuthority, ca_id, with_for_update=True)
    lifetime = timedelta(hours=policy.validity.crl_hours)
    fresh = (record.crl_der is not None and not record.crl_stale and record.crl_next_update is not None
             and record.crl_next_update - now > lifetime / 2)
    if fresh:
        return record.crl_der
    revoked = session.exec(select(IssuedCertificate).where(
        IssuedCertificate.issuer_id == ca_id, IssuedCertificate.status == CertStatus.REVOKED,
        IssuedCertificate.not_after > now)).all()
    entries = [crl_builder.RevokedEntry(int(r.serial_hex, 16), r.revoked_at, x509.ReasonFlags(r.revocation_reason))
               for r in revoked]
    record.crl_number += 1
    crl = crl_builder.build_crl(authority.certificate, authority.key(keystore), entries,
                                crl_number=record.crl_number, this_update=now, next_update=now + lifetime)
    record.crl_der = crl.public_bytes(Encoding.DER)
    record.crl_next_update = now + lifetime
    record.crl_stale = False
    session.add(record)
    session.flush()
    return record.crl_der


def ocsp_response(session: Session, keystore: KeyStore, request_der: bytes, policy: Policy,
                  now: datetime | None = None) -> bytes:
    now = now or utcnow()
    authorities = {a.id: a for a in all_authorities(session) if a.certificate.not_valid_after_utc > now}
    issuers = [ocsp.Issuer(a.certificate, load_key=partial(a.key, keystore)) for a in authorities.values()]
    ids_by_cert = {a.certificate.fingerprint(hashes.SHA256()): a.id for a in authorities.values()}

    def lookup(issuer: ocsp.Issuer, serial: int) -> ocsp.CertStatus:
        ca_id = ids_by_cert[issuer.certificate.fingerprint(hashes.SHA256())]
        record = session.exec(select(IssuedCertificate).where(
            IssuedCertificate.issuer_id == ca_id,
            IssuedCertificate.serial_hex == serial_hex(serial))).first()
        if record is None:
            return ocsp.CertStatus("unknown")
        certificate = x509.load_pem_x509_certificate(record.certificate_pem.encode())
        if record.status == CertStatus.REVOKED:
            return ocsp.CertStatus("revoked", record.revoked_at, x509.ReasonFlags(record.revocation_reason),
                                   certificate)
        return ocsp.CertStatus("good", certificate=certificate)

    return ocsp.respond(request_der, issuers, lookup, now=now,
                        validity=timedelta(minutes=policy.validity.ocsp_minutes))
