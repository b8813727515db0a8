"""A simulated station's installed certificates (M03, M04, M05), kept the way a station keeps them.

* InstallCertificate adds the PEM. Like a real station it answers Rejected for what it cannot
  use as a trust anchor, and, with SecurityCtrlr.AdditionalRootCertificateCheck=true, for a new
  CSMSRootCertificate not signed by the one it holds (which it keeps as fallback). With a
  ``capacity``, reported as the maxLimit of SecurityCtrlr.CertificateEntries, a new certificate
  that would not fit is answered Failed (M05.FR.03); one it already holds is Accepted as it is.
* GetInstalledCertificateIds reports CertificateHashData computed with pki.hashdata under the
  station's configured hash algorithm (SHA256, SHA384 or SHA512), a V2G chain's sub-CAs as
  children of its leaf, or NotFound.
* DeleteCertificate removes the certificate named by the hash data it receives.

Conformance cases need a station that answers Failed or Rejected on purpose: set
``install_answer`` / ``delete_answer`` / ``report_answer``; the request is then recorded and
answered that way without touching the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from pki.hashdata import HASH_ALGORITHMS, CertificateHashData, certificate_hash_data

CSMS_ROOT = "CSMSRootCertificate"
V2G_CHAIN = "V2GCertificateChain"


@dataclass(frozen=True)
class Named:
    """A certificate with the issuer its hash data is computed against (itself for a root)."""

    certificate: x509.Certificate
    issuer: x509.Certificate

    def hash_data(self, algorithm: str) -> CertificateHashData:
        return certificate_hash_data(self.certificate, self.issuer, algorithm)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(Encoding.PEM).decode()


@dataclass
class Installed:
    certificate_type: str
    entry: Named
    children: list[Named] = field(default_factory=list)  # V2G chain sub-CAs, leaf's issuer first


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


class CertificateStore:
    def __init__(self, *, hash_algorithm: str = "SHA256", additional_root_check: bool = False,
                 capacity: int | None = None) -> None:
        if hash_algorithm not in HASH_ALGORITHMS:
            raise ValueError(f"hash algorithm must be one of {', '.join(HASH_ALGORITHMS)}")
        self.hash_algorithm = hash_algorithm
        self.additional_root_check = additional_root_check
        self.capacity = capacity  # how many certificates fit; None: no limit
        self.installed: list[Installed] = []
        # Forced answers for conformance cases (None: behave as a correct station).
        self.install_answer: str | None = None   # "Rejected" | "Failed"
        self.delete_answer: str | None = None    # "Failed" | "NotFound"
        self.report_answer: str | None = None    # "NotFound"

    # --- what tests set up and inspect ---------------------------------------------------------

    def add(self, certificate_type: str, certificate: x509.Certificate, issuer: x509.Certificate | None = None,
            children: Sequence[tuple[x509.Certificate, x509.Certificate]] = ()) -> Installed:
        """Put a certificate in the store as if installed at the factory."""
        entry = Installed(certificate_type, Named(certificate, issuer or certificate),
                          [Named(child, child_issuer) for child, child_issuer in children])
        self.installed.append(entry)
        return entry

    def certificates(self, certificate_type: str) -> list[x509.Certificate]:
        return [e.entry.certificate for e in self.installed if e.certificate_type == certificate_type]

    def variables(self) -> dict[tuple[str, str], Any]:
        """The SecurityCtrlr variables this store answers for (simulator.device_model)."""
        return {("SecurityCtrlr", "CertificateEntries"): lambda: len(self.installed),
                ("SecurityCtrlr", "AdditionalRootCertificateCheck"): lambda: self.additional_root_check}

    def max_limits(self) -> dict[tuple[str, str], Any]:
        """Their maxLimits: CertificateEntries counts entries, so its limit is the capacity."""
        return {("SecurityCtrlr", "CertificateEntries"): lambda: self.capacity}

    # --- the three CSMS requests ---------------------------------------------------------------

    def install(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.install_answer:
            return {"status": self.install_answer}
        certificate_type = payload["certificateType"]
        try:
            certificate = x509.load_pem_x509_certificate(payload["certificate"].encode())
        except ValueError:
            return {"status": "Rejected"}
        if any(e.entry.certificate == certificate and e.certificate_type == certificate_type for e in self.installed):
            return {"status": "Accepted"}  # already there: nothing to do
        issuer = self._issuer_for(certificate_type, certificate)
        if issuer is None or not _is_ca(certificate):
            return {"status": "Rejected"}
        if self.capacity is not None and len(self.installed) >= self.capacity:
            return {"status": "Failed"}  # M05.FR.03: could not be stored
        self.installed.append(Installed(certificate_type, Named(certificate, issuer)))
        return {"status": "Accepted"}

    def _issuer_for(self, certificate_type: str, certificate: x509.Certificate) -> x509.Certificate | None:
        held = self.certificates(CSMS_ROOT)
        if certificate_type == CSMS_ROOT and self.additional_root_check and held:
            # M05: with AdditionalRootCertificateCheck a new CSMS root must be signed by the one it
            # replaces; the old one stays as fallback until the new one is proven.
            return next((old for old in held if certificate.issuer == old.subject and _signed_by(certificate, old)),
                        None)
        if certificate.issuer == certificate.subject and _signed_by(certificate, certificate):
            return certificate
        return None

    def report(self, payload: dict[str, Any]) -> dict[str, Any]:
        wanted = payload.get("certificateType")
        entries = [e for e in self.installed if wanted is None or e.certificate_type in wanted]
        if self.report_answer or not entries:
            return {"status": self.report_answer or "NotFound"}  # M03.FR.02: no chain at all
        return {"status": "Accepted", "certificateHashDataChain": [self._chain(e) for e in entries]}

    def _chain(self, installed: Installed) -> dict[str, Any]:
        chain: dict[str, Any] = {"certificateType": installed.certificate_type,
                                 "certificateHashData": installed.entry.hash_data(self.hash_algorithm).to_ocpp()}
        if installed.children:
            chain["childCertificateHashData"] = [c.hash_data(self.hash_algorithm).to_ocpp()
                                                 for c in installed.children]
        return chain

    def delete(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.delete_answer:
            return {"status": self.delete_answer}
        target = CertificateHashData.from_ocpp(payload["certificateHashData"])
        found = self._find(target, self.installed)
        if found is None:
            return {"status": "NotFound"}
        self.installed.remove(found)
        return {"status": "Accepted"}

    @staticmethod
    def _find(target: CertificateHashData, entries: Iterable[Installed]) -> Installed | None:
        # Computed under the algorithm the request names, as a station does with its own store.
        return next((e for e in entries if e.entry.hash_data(target.hash_algorithm).matches(target)), None)
