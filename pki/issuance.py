"""Issuing and renewing ChargingStationCertificates from the CSRs stations send."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlmodel import Session, select

from pki import profiles
from pki.authorities import Authority, organization
from pki.keystore import KeyStore
from pki.records import sign_and_record
from policies.csr import CsrCheck, check_csr, key_fingerprint
from policies.model import Decision, Policy
from policies.refusal import NotFound, Refusal
from storage.certificates import CertStatus, IssuedCertificate
from storage.stations import Station


class CsrRefused(Refusal):
    """The CSR breaks a rule of the CSR policy; ``rule`` (and ``decision``) names it."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.rule, decision.reason)
        self.decision = decision


class UnknownStation(NotFound):
    def __init__(self, station_id: str) -> None:
        super().__init__("station.unknown", f"station {station_id!r} is not registered")
        self.station_id = station_id


@dataclass(frozen=True)
class IssuedChain:
    record: IssuedCertificate
    certificate: x509.Certificate
    issuer: Authority
    # Leaf first, then the issuing sub-CA; never the root (the station has it as a trust anchor).
    chain_pem: str
    ignored_extensions: tuple[str, ...]


def station_key_fingerprints(session: Session, station_id: str) -> set[str]:
    rows = session.exec(select(IssuedCertificate.public_key_sha256).where(
        IssuedCertificate.station_id == station_id))
    return set(rows)


def _key_owner_elsewhere(session: Session, fingerprint: str, station_id: str) -> str | None:
    return session.exec(select(IssuedCertificate.station_id).where(
        IssuedCertificate.public_key_sha256 == fingerprint,
        IssuedCertificate.station_id != station_id)).first()


def checked_station_csr(session: Session, *, station_id: str, csr_pem: str, policy: Policy,
                        subject_cn: str | None = None, in_delivery: Collection[str] = ()) -> CsrCheck:
    """The CSR checks every certificate issued to a station passes; raises CsrRefused.

    ``subject_cn``: the CN the CSR must carry when it is not the station identity (an ISO 15118
    SECC certificate names the SECC ID). ``in_delivery``: fingerprints of this station's keys
    whose certificate has not reached it yet; a CSR bringing one again is a resend, not a reuse
    (the caller delivers that certificate instead of signing another).
    """
    if session.get(Station, station_id) is None:
        raise UnknownStation(station_id)
    check = check_csr(csr_pem, station_id=subject_cn or station_id, organization=organization(session),
                      known_key_fingerprints=station_key_fingerprints(session, station_id) - set(in_delivery),
                      csr_policy=policy.csr, key_policy=policy.keys)
    if not check.decision:
        raise CsrRefused(check.decision)
    if policy.csr.refuse_key_reuse:
        owner = _key_owner_elsewhere(session, key_fingerprint(check.csr.public_key()), station_id)
        if owner is not None:
            raise CsrRefused(Decision.refuse(
                "csr.key_reuse", "CSR public key is already certified for another station"))
    return check


def issue_station_chain(session: Session, keystore: KeyStore, *, station_id: str, issuer: Authority,
                        builder: x509.CertificateBuilder, kind: str, lint: bool,
                        ignored_extensions: tuple[str, ...]) -> IssuedChain:
    """Sign and record a certificate for a station; it supersedes the station's earlier
    certificates of the same kind."""
    previous = session.exec(select(IssuedCertificate).where(
        IssuedCertificate.station_id == station_id,
        IssuedCertificate.kind == kind,
        IssuedCertificate.status.in_([CertStatus.ISSUED, CertStatus.ACTIVE]))).all()
    certificate, record = sign_and_record(session, builder, issuer.key(keystore), issuer_id=issuer.id,
                                          kind=kind, status=CertStatus.ISSUED, station_id=station_id, lint=lint)
    for old in previous:
        old.status = CertStatus.SUPERSEDED
        old.superseded_by = record.id
        session.add(old)
    session.flush()
    chain = certificate.public_bytes(Encoding.PEM).decode() + issuer.record.certificate_pem
    return IssuedChain(record, certificate, issuer, chain, ignored_extensions)


def sign_station_csr(session: Session, keystore: KeyStore, *, station_id: str, csr_pem: str,
                     policy: Policy, urls: profiles.PublicUrls, lint: bool = True,
                     now: datetime | None = None) -> IssuedChain:
    """Check the CSR, build the certificate from our profile, lint, sign and record it: the fleet
    engine (pki/fleet_issuance.py) with a batch of one, raising what refused it.

    A renewal supersedes the station's earlier certificates; they stay valid (a station keeps
    using the old one until it reconnects with the new one, A02.FR.10) until revoked or expired.
    """
    from pki.fleet_issuance import StationCsr, issue_station_batch  # it builds on this module

    outcome = issue_station_batch(session, keystore, [StationCsr(station_id, csr_pem)], policy=policy, urls=urls,
                                  lint=lint, now=now)
    if station_id in outcome.refused:
        raise outcome.refused[station_id]
    return outcome.issued[station_id]
