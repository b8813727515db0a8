"""The CSR profile: what a station's PKCS#10 request must look like before the CA reads it.

Only the public key and the proof of possession are taken from a CSR. Subject and extensions
of the issued certificate are built by the CA's profile, so this module checks the subject
only to catch a station that asks for the wrong identity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from policies.keys import check_public_key
from policies.model import CsrPolicy, Decision, KeyPolicy

_PEM_HEADER = "-----BEGIN CERTIFICATE REQUEST-----"
_PEM_FOOTER = "-----END CERTIFICATE REQUEST-----"
_WEAK_HASHES = (hashes.MD5, hashes.SHA1)


@dataclass(frozen=True)
class CsrCheck:
    decision: Decision
    csr: x509.CertificateSigningRequest | None = None
    # Extension requests present in the CSR; never copied, reported so an officer sees them.
    ignored_extensions: tuple[str, ...] = ()


def public_key_der(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_fingerprint(public_key: object) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex."""
    return hashlib.sha256(public_key_der(public_key)).hexdigest()


def _single(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def check_csr(
    pem: str,
    *,
    station_id: str,
    organization: str,
    known_key_fingerprints: Collection[str] = (),
    csr_policy: CsrPolicy,
    key_policy: KeyPolicy,
) -> CsrCheck:
    """Decide whether ``pem`` may be signed for ``station_id``. Every refusal names its rule.

    ``known_key_fingerprints``: fingerprints (see ``key_fingerprint``) of keys already certified,
    which a renewal must not bring again.
    """
    if len(pem) > csr_policy.max_chars:
        return CsrCheck(Decision.refuse(
            "csr.size", f"CSR is {len(pem)} characters, the limit is {csr_policy.max_chars}"))
    if _PEM_HEADER not in pem:
        return CsrCheck(Decision.refuse(
            "csr.format", "not a PEM PKCS#10 certificate request (no BEGIN CERTIFICATE REQUEST block)"))
    text = pem.strip()
    if text.count("-----BEGIN") != 1 or not (text.startswith(_PEM_HEADER) and text.endswith(_PEM_FOOTER)):
        # The parser reads the first block and skips the rest: a second request, or text around
        # one, went unchecked into the stored request as if it were part of it.
        return CsrCheck(Decision.refuse(
            "csr.format", "not one PEM PKCS#10 certificate request: one BEGIN/END CERTIFICATE REQUEST block, "
                          "nothing before or after it"))
    try:
        csr = x509.load_pem_x509_csr(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        return CsrCheck(Decision.refuse("csr.format", f"CSR cannot be parsed: {exc}"))

    try:
        signature_ok = csr.is_signature_valid
        public_key = csr.public_key()
    except (ValueError, TypeError) as exc:
        return CsrCheck(Decision.refuse("csr.key", f"CSR public key is not usable: {exc}"))
    key_decision = check_public_key(public_key, key_policy)
    if not key_decision:
        return CsrCheck(Decision.refuse(f"csr.{key_decision.rule}", key_decision.reason))
    # Before the signature check: a SHA-1 signature may not even verify, and the useful
    # answer is that SHA-1 is not accepted.
    try:
        hash_algorithm = csr.signature_hash_algorithm
    except Exception:  # noqa: BLE001 - unknown algorithm OID
        hash_algorithm = None
    if hash_algorithm is None or isinstance(hash_algorithm, _WEAK_HASHES):
        name = hash_algorithm.name if hash_algorithm else "none"
        return CsrCheck(Decision.refuse(
            "csr.signature_hash", f"CSR is signed with {name}; SHA-256 or stronger is required"))
    if not signature_ok:
        return CsrCheck(Decision.refuse(
            "csr.signature", "CSR self-signature does not verify (no proof of possession)"))


    common_names = _single(csr.subject, NameOID.COMMON_NAME)
    if common_names != [station_id]:
        shown = ", ".join(repr(cn) for cn in common_names) or "none"
        return CsrCheck(Decision.refuse(
            "csr.subject.cn", f"CSR subject CN is {shown}; it must be the station identity {station_id!r}"))
    organizations = _single(csr.subject, NameOID.ORGANIZATION_NAME)
    if csr_policy.require_o_match and organizations and organizations != [organization]:
        return CsrCheck(Decision.refuse(
            "csr.subject.o",
            f"CSR subject O is {', '.join(organizations)}; it must be the OrganizationName {organization!r}"))

    if csr_policy.refuse_key_reuse and key_fingerprint(public_key) in known_key_fingerprints:
        return CsrCheck(Decision.refuse(
            "csr.key_reuse", "CSR reuses a public key already certified; a renewal needs a fresh key pair"))

    try:
        requested = tuple(ext.oid._name for ext in csr.extensions)  # noqa: SLF001 - display only
    except (ValueError, x509.DuplicateExtension) as exc:
        # Malformed extension requests are ignored like any other; say so.
        requested = (f"unparseable extension request ({exc})",)
    return CsrCheck(Decision.allow(), csr, requested)
