"""Trust anchors on stations: what InstallCertificate may carry, and which DeleteCertificate
could lock a station out (M03/M04/M05).

Pure checks: the caller supplies the certificate text, the station's inventory as it was
reported (and its capacity, when a report said), the anchors of the server certificates we
serve, and the time.

Rules named in refusals:

* ``root.type``: not an InstallCertificateUseEnumType value
* ``root.size``: over 5500 characters (InstallCertificateRequest.certificate schema limit)
* ``root.format``: not exactly one PEM CERTIFICATE block and nothing else, or undecodable
* ``root.multiple``: more than one certificate
* ``root.not_self_signed``: issuer differs from subject, or the signature fails with its own key
* ``root.not_signed_by_current``: (rollover) not signed by the station's current root
* ``root.not_new``: (rollover) carries the current root's own key
* ``root.not_ca``: no BasicConstraints with cA=true
* ``root.no_keycertsign``: no KeyUsage with keyCertSign
* ``root.key.*``: key below A00.FR.502/503 (see policies.keys)
* ``root.signature_hash``: signed with MD5 or SHA-1 (A00.FR.504)
* ``root.not_yet_valid`` / ``root.expired``
* ``install.capacity_full``, ``install.force_reason``; an allowed-but-forced install carries
  rule ``install.forced``
* ``delete.not_in_inventory``, ``delete.last_csms_root``, ``delete.served_anchor``,
  ``delete.force_reason``; an allowed-but-forced delete carries rule ``delete.forced``
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from ocpp.v201.enums import InstallCertificateUseEnumType

from policies.keys import check_public_key
from policies.model import Decision, KeyPolicy

CSMS_ROOT: str = InstallCertificateUseEnumType.csms_root_certificate.value
INSTALLABLE_TYPES: tuple[str, ...] = (CSMS_ROOT, *(use.value for use in InstallCertificateUseEnumType
                                                  if use is not InstallCertificateUseEnumType.csms_root_certificate))
# InstallCertificateRequest.certificate is string[..5500] in the OCPP 2.0.1 schema.
MAX_CERTIFICATE_CHARS = 5500
FORCED = "delete.forced"
INSTALL_FORCED = "install.forced"

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)
_WEAK_HASHES = (hashes.MD5, hashes.SHA1)
_DEFAULT_KEYS = KeyPolicy()


def _refuse_parse(rule: str, reason: str) -> tuple[Decision, None]:
    return Decision.refuse(rule, reason), None


def _single_certificate(pem: str) -> tuple[Decision, x509.Certificate | None]:
    # Strict on purpose: what passes is sent byte for byte, and a stray private-key block pasted
    # along with a root must never leave the CSMS.
    if not isinstance(pem, str):
        return _refuse_parse("root.format", f"certificate must be PEM text, got {type(pem).__name__}")
    if len(pem) > MAX_CERTIFICATE_CHARS:
        return _refuse_parse("root.size",
                             f"certificate is {len(pem)} characters, the limit is {MAX_CERTIFICATE_CHARS}")
    blocks = list(_PEM_BLOCK.finditer(pem))
    if not blocks:
        return _refuse_parse("root.format",
                             "no complete PEM block (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)")
    other = next((b.group(1) for b in blocks if b.group(1) != "CERTIFICATE"), None)
    if other is not None:
        return _refuse_parse("root.format", f"contains a PEM {other} block; only one CERTIFICATE block may be sent")
    if len(blocks) > 1:
        return _refuse_parse("root.multiple",
                             f"contains {len(blocks)} certificates; InstallCertificate carries exactly one")
    block = blocks[0]
    if (pem[:block.start()] + pem[block.end():]).strip():
        return _refuse_parse("root.format", "text outside the PEM CERTIFICATE block")
    try:
        return Decision.allow(), x509.load_pem_x509_certificate(block.group(0).encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        return _refuse_parse("root.format", f"certificate cannot be parsed: {exc}")


def _extension_value(extensions: x509.Extensions, kind: type) -> object | None:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _ca_checks(certificate: x509.Certificate, now: datetime, key_policy: KeyPolicy) -> Decision:
    try:
        extensions = certificate.extensions
    except (ValueError, x509.DuplicateExtension) as exc:
        return Decision.refuse("root.format", f"certificate extensions cannot be parsed: {exc}")
    constraints = _extension_value(extensions, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        return Decision.refuse("root.not_ca", "certificate is not a CA certificate (BasicConstraints cA is not true)")
    usage = _extension_value(extensions, x509.KeyUsage)
    if usage is None or not usage.key_cert_sign:
        return Decision.refuse("root.no_keycertsign", "certificate's KeyUsage does not allow keyCertSign")
    try:
        public_key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        return Decision.refuse("root.key.algorithm", f"certificate public key is not usable: {exc}")
    key = check_public_key(public_key, key_policy)
    if not key:
        return Decision.refuse(f"root.{key.rule}", key.reason)
    if now < certificate.not_valid_before_utc:
        return Decision.refuse("root.not_yet_valid",
                               f"certificate is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if now > certificate.not_valid_after_utc:
        return Decision.refuse("root.expired",
                               f"certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    return Decision.allow()


def _weak_signature(certificate: x509.Certificate) -> Decision:
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if isinstance(algorithm, _WEAK_HASHES):
        return Decision.refuse("root.signature_hash",
                               f"certificate is signed with {algorithm.name}; SHA-256 or stronger is required")
    return Decision.allow()


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _spki(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def check_installable_root(pem: str, certificate_type: str, *, now: datetime,
                           key_policy: KeyPolicy = _DEFAULT_KEYS) -> Decision:
    """May ``pem`` be sent in InstallCertificate as ``certificate_type``? Only one self-signed,
    currently valid CA certificate with keyCertSign, within the schema's 5500 characters."""
    if certificate_type not in INSTALLABLE_TYPES:
        return Decision.refuse("root.type", f"{certificate_type!r} cannot be installed with InstallCertificate "
                                            f"(one of {', '.join(INSTALLABLE_TYPES)})")
    decision, certificate = _single_certificate(pem)
    if certificate is None:
        return decision
    if certificate.issuer != certificate.subject:
        return Decision.refuse("root.not_self_signed",
                               f"certificate is issued by {certificate.issuer.rfc4514_string()!r}, not by itself "
                               f"({certificate.subject.rfc4514_string()!r}); a trust anchor must be a root")
    # Before verifying: a SHA-1 signature may not verify at all, and the useful answer is "SHA-1".
    weak = _weak_signature(certificate)
    if not weak:
        return weak
    if not _signed_by(certificate, certificate):
        return Decision.refuse("root.not_self_signed", "certificate's signature does not verify with its own key")
    return _ca_checks(certificate, now, key_policy)


def check_installable_rollover_root(pem: str, current_root: x509.Certificate, *, now: datetime,
                                    key_policy: KeyPolicy = _DEFAULT_KEYS) -> Decision:
    """May ``pem`` replace ``current_root`` as CSMSRootCertificate on a station with
    SecurityCtrlr.AdditionalRootCertificateCheck=true? Such a station accepts a new root only
    when it is signed by the root it replaces (M05), so ``pem`` is the new root's subject and key
    certified by ``current_root``, not a self-signed certificate."""
    decision, certificate = _single_certificate(pem)
    if certificate is None:
        return decision
    if _spki(certificate) == _spki(current_root):
        return Decision.refuse("root.not_new", "certificate carries the current root's own key; it is not a new root")
    weak = _weak_signature(certificate)
    if not weak:
        return weak
    if certificate.issuer != current_root.subject or not _signed_by(certificate, current_root):
        return Decision.refuse("root.not_signed_by_current",
                               f"certificate is not signed by the station's current root "
                               f"{current_root.subject.rfc4514_string()!r}; the station would reject it")
    return _ca_checks(certificate, now, key_policy)


class HashDataLike(Protocol):
    """CertificateHashData as pki.hashdata defines it; only its comparison is used here."""

    hash_algorithm: str

    def matches(self, other: HashDataLike, /) -> bool: ...


@dataclass(frozen=True)
class InstalledEntry:
    """One entry of a station's inventory as GetInstalledCertificateIds reported it."""

    certificate_type: str
    hash_data: HashDataLike
    # A sub-CA reported under a chain's certificate (childCertificateHashData, M03.FR.05): it
    # anchors nothing, so it never stands in for a CSMS root the station would still hold.
    child: bool = False


def check_delete(target: HashDataLike, inventory: Sequence[InstalledEntry], *,
                 served_anchor_hashes: Collection[HashDataLike], force: bool = False,
                 reason: str | None = None) -> Decision:
    """May DeleteCertificate(``target``) be sent to a station whose inventory is ``inventory``?

    ``served_anchor_hashes``: the hash data of every certificate that anchors a CSMS server
    certificate we serve now (the root and any cross-certificate of it), under every hash
    algorithm a station may report. Refusing rules can be overridden with ``force`` and a
    reason; the Decision is then allowed with rule ``delete.forced`` so the caller audits it.
    """
    entry = next((e for e in inventory if e.hash_data.matches(target)), None)
    if entry is None:
        # Not overridable: M04.FR.07 wants the station's own hash data, and a delete of something
        # it never reported can only come from a stale or mistyped inventory.
        return Decision.refuse("delete.not_in_inventory",
                               "the station did not report this certificate; refresh its inventory "
                               "(GetInstalledCertificateIds) and delete with the hash data it reports")
    objections: list[tuple[str, str]] = []
    if any(anchor.matches(target) for anchor in served_anchor_hashes):
        objections.append(("delete.served_anchor",
                           "it anchors the CSMS server certificate served now; the station could no longer "
                           "verify the CSMS and connect"))
    if entry.certificate_type == CSMS_ROOT and not entry.child and not any(
            e.certificate_type == CSMS_ROOT and not e.child and not e.hash_data.matches(target) for e in inventory):
        objections.append(("delete.last_csms_root",
                           "it is the station's last CSMSRootCertificate; the station could no longer "
                           "verify any CSMS"))
    return _overridable(objections, "delete", force, reason)


def check_install_capacity(*, capacity: int | None, installed: int | None, already_installed: bool,
                           force: bool = False, reason: str | None = None) -> Decision:
    """May one more certificate be sent in InstallCertificate to a station that can store
    ``capacity`` certificates (SecurityCtrlr.CertificateEntries maxLimit) and reported
    ``installed``? Either None: not known, so nothing to check (the station answers Failed when
    it is full, M05.FR.03). A certificate it already holds takes no new place. Overridable like
    ``check_delete``: allowed with rule ``install.forced``."""
    if capacity is None or installed is None or already_installed or installed < capacity:
        return Decision.allow()
    return _overridable([("install.capacity_full",
                          f"the station holds {installed} certificates and can store {capacity} "
                          "(SecurityCtrlr.CertificateEntries maxLimit); delete one first, or refresh its "
                          "inventory if it changed")], "install", force, reason)


def _overridable(objections: Sequence[tuple[str, str]], change: str, force: bool, reason: str | None) -> Decision:
    """Allowed without objections; with some, refused unless forced with a reason, and then
    allowed with rule ``<change>.forced`` so that the caller audits the override."""
    if not objections:
        return Decision.allow()
    rules = ", ".join(rule for rule, _ in objections)
    why = "; ".join(text for _, text in objections)
    if not force:
        return Decision.refuse(objections[0][0], f"{why} (an officer can force it, giving a reason)")
    if not (reason and reason.strip()):
        return Decision.refuse(f"{change}.force_reason",
                               f"forcing this {change} over {rules} needs a non-empty reason for the audit log")
    return Decision(True, f"{change}.forced", f"forced over {rules} ({why}); officer's reason: {reason.strip()}")
