"""A SignCertificate that repeats a CSR whose chain has not reached the station yet (A02/A03).

A station that reboots or loses its connection between SignCertificate and CertificateSigned
sends the same CSR again: the same key and, since it passed the CSR checks for this station,
the same subject. Its certificate exists and its chain is in the outbox, so the request is
answered Accepted and that chain is delivered — not refused as a reused key (csr.key_reuse),
and not signed a second time.

The chain is waiting when the certificate is the station's own, of the kind it asks for, still
``issued`` (never seen in use, not superseded, not revoked) and unexpired, and it went into a
delivery that no answer of the station settled. Any answer settles it: after Accepted the
station holds the certificate of that key, after Rejected it refused that very chain; a CSR
with the key is then a reuse, as is one with the key of another station's certificate.
"""

from __future__ import annotations

from cryptography import x509
from sqlmodel import Session, select

from api.csms.security.renewal import DELIVERY_PURPOSE, V2G_CERTIFICATE
from policies.csr import key_fingerprint
from storage.certificates import CertKind, CertStatus, IssuedCertificate
from storage.leases import release
from storage.outbox import CallStatus, OutboundCall
from storage.types import utcnow

# A delivery in these states is still going to be sent (or its answer is awaited): the outbox
# worker owns it, and a second row for the same chain would only send it twice.
_UNDER_WAY = (CallStatus.PENDING, CallStatus.SENT)


def _kind(certificate_type: str | None) -> str:
    return CertKind.V2G if certificate_type == V2G_CERTIFICATE else CertKind.STATION


def _deliveries(session: Session, station_id: str, certificates: list[IssuedCertificate]) -> list[OutboundCall]:
    return list(session.exec(select(OutboundCall).where(
        OutboundCall.station_id == station_id, OutboundCall.purpose == DELIVERY_PURPOSE,
        OutboundCall.reference.in_([str(c.id) for c in certificates])).order_by(OutboundCall.id)))


def waiting_certificates(session: Session, station_id: str,
                         certificate_type: str | None) -> dict[str, IssuedCertificate]:
    """The station's certificates of that type whose chain has not reached it, by key fingerprint."""
    issued = list(session.exec(select(IssuedCertificate).where(
        IssuedCertificate.station_id == station_id, IssuedCertificate.kind == _kind(certificate_type),
        IssuedCertificate.status == CertStatus.ISSUED, IssuedCertificate.not_after > utcnow())))
    if not issued:
        return {}
    deliveries = _deliveries(session, station_id, issued)
    delivered = {row.reference for row in deliveries}
    settled = {row.reference for row in deliveries if row.status == CallStatus.ANSWERED}
    return {c.public_key_sha256: c for c in issued if str(c.id) in delivered and str(c.id) not in settled}


def resent_certificate(session: Session, station_id: str, csr_pem: str,
                       certificate_type: str | None) -> IssuedCertificate | None:
    """The certificate whose waiting chain answers this (already checked) CSR, if it is a resend."""
    public_key = x509.load_pem_x509_csr(csr_pem.strip().encode("ascii")).public_key()
    return waiting_certificates(session, station_id, certificate_type).get(key_fingerprint(public_key))


def redeliver(session: Session, certificate: IssuedCertificate, *, created_by: str) -> OutboundCall:
    """Make the chain of ``certificate`` due now; the delivery that will carry it.

    A delivery still under way is kept and made due at once, whatever its state: its back-off
    dropped, and one left "sent" is released from its sender's lease — the station asks again, so
    whatever that sender waits for will not come (its process may be gone, or the station
    dropped the call when it rebooted). One given up on (failed) stays as it is, with the alert
    it raised; the same chain goes in a delivery of its own, with attempts of its own."""
    deliveries = _deliveries(session, certificate.station_id, [certificate])
    under_way = next((row for row in reversed(deliveries) if row.status in _UNDER_WAY), None)
    if under_way is not None:
        under_way.status, under_way.next_attempt_at, under_way.updated_at = CallStatus.PENDING, None, utcnow()
        release(under_way)
        session.add(under_way)
        return under_way
    last = deliveries[-1]
    row = OutboundCall(station_id=last.station_id, action=last.action, payload=last.payload,
                       purpose=DELIVERY_PURPOSE, reference=last.reference, created_by=created_by)
    session.add(row)
    session.flush()
    return row
