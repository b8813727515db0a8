"""Telling our CSMS trust anchors apart in a station's inventory.

A station reports each installed certificate only by CertificateHashData, computed with the
hash algorithm it chose (M03). To know which entry is which of our roots — or a cross
certificate installed on a station with AdditionalRootCertificateCheck — the CSMS computes the
same data from its own certificates under that algorithm and compares.

(The size of a certificate chain for CertificateSigned is checked by policies.chain.check_chain_size
with the station's MaxCertificateChainSize; nothing needs wrapping here.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from sqlmodel import Session, select

from pki.authorities import authority_by_id
from pki.hashdata import HASH_ALGORITHMS, CertificateHashData, certificate_hash_data
from policies.csr import key_fingerprint
from policies.trust_anchor import InstalledEntry
from storage.certificates import CaRole, CertificateAuthority, CertKind, CertStatus, IssuedCertificate
from storage.stations import InstalledCertificate


def inventory_matches(reported: CertificateHashData, certificate: x509.Certificate,
                      issuer: x509.Certificate) -> bool:
    """Whether the station's ``reported`` entry names ``certificate`` (issued by ``issuer``;
    itself for a root), computed under the algorithm the station used."""
    if reported.hash_algorithm.upper() not in HASH_ALGORITHMS:
        return False
    return certificate_hash_data(certificate, issuer, reported.hash_algorithm.upper()).matches(reported)


@dataclass(frozen=True)
class KnownAnchor:
    """One of our CSMS roots, or a cross certificate that carries a root's subject and key."""

    generation: int             # the generation whose root's key this certificate carries
    certificate: x509.Certificate
    issuer: x509.Certificate    # itself for a root; the older root for a cross certificate
    cross_signed: bool

    def hash_data(self, algorithm: str = "SHA256") -> CertificateHashData:
        return certificate_hash_data(self.certificate, self.issuer, algorithm)

    def matches(self, reported: CertificateHashData) -> bool:
        return inventory_matches(reported, self.certificate, self.issuer)


def csms_anchors(session: Session) -> list[KnownAnchor]:
    """Every CSMS root of every generation (retired ones too: a station may still hold them) and
    every unrevoked cross certificate, oldest generation first."""
    roots = list(session.exec(select(CertificateAuthority).where(CertificateAuthority.role == CaRole.ROOT)
                              .order_by(CertificateAuthority.generation)))
    certificates = {r.id: x509.load_pem_x509_certificate(r.certificate_pem.encode()) for r in roots}
    generation_by_key = {key_fingerprint(certificates[r.id].public_key()): r.generation for r in roots}
    anchors = [KnownAnchor(r.generation, certificates[r.id], certificates[r.id], False) for r in roots]
    crosses = session.exec(select(IssuedCertificate).where(
        IssuedCertificate.kind == CertKind.CROSS, IssuedCertificate.status != CertStatus.REVOKED)
        .order_by(IssuedCertificate.id))
    for record in crosses:
        generation = generation_by_key.get(record.public_key_sha256)
        issuer = certificates.get(record.issuer_id)
        if generation is None or issuer is None:
            continue
        anchors.append(KnownAnchor(generation, x509.load_pem_x509_certificate(record.certificate_pem.encode()),
                                   issuer, True))
    return sorted(anchors, key=lambda a: (a.generation, a.cross_signed))


def identify_anchor(reported: CertificateHashData, anchors: Iterable[KnownAnchor]) -> KnownAnchor | None:
    """Which of ``anchors`` the station's entry names, if any (a foreign root gives None)."""
    return next((anchor for anchor in anchors if anchor.matches(reported)), None)


def served_generations(session: Session) -> set[int]:
    """Generations whose server CA issued a CSMS server certificate we serve now."""
    issuer_ids = session.exec(select(IssuedCertificate.issuer_id).where(
        IssuedCertificate.kind == CertKind.SERVER, IssuedCertificate.status == CertStatus.ACTIVE)).all()
    authorities = (authority_by_id(session, issuer_id) for issuer_id in set(issuer_ids))
    return {authority.record.generation for authority in authorities if authority is not None}


def served_anchor_hashes(session: Session, anchors: Sequence[KnownAnchor] | None = None) -> list[CertificateHashData]:
    """Hash data, under every algorithm a station may report, of each certificate anchoring a
    served CSMS server certificate: the input policies.trust_anchor.check_delete needs."""
    generations = served_generations(session)
    anchors = csms_anchors(session) if anchors is None else anchors
    return [anchor.hash_data(algorithm) for anchor in anchors if anchor.generation in generations
            for algorithm in HASH_ALGORITHMS]


def station_inventory(session: Session, station_id: str) -> list[InstalledEntry]:
    """The station's last reported inventory (children of a V2G chain included), as the input
    policies.trust_anchor.check_delete takes; the hash data stays exactly as reported."""
    rows = session.exec(select(InstalledCertificate).where(InstalledCertificate.station_id == station_id)
                        .order_by(InstalledCertificate.id))
    return [InstalledEntry(row.certificate_type, reported_hash_data(row), child=row.parent_id is not None)
            for row in rows]


def reported_hash_data(row: InstalledCertificate) -> CertificateHashData:
    """An inventory row's hash data exactly as the station reported it (no normalisation): what a
    DeleteCertificate for it must send back."""
    return CertificateHashData(row.hash_algorithm, row.issuer_name_hash, row.issuer_key_hash, row.serial_number)
