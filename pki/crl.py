"""RFC 5280 CRL construction: data in, signed (and linted) CRL out."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pki.lint import SigningKey, sign_crl_linted, signature_hash_for

__all__ = ["REVOCATION_REASONS", "RevokedEntry", "build_crl", "parse_reason"]

# The RFC 5280 §5.3.1 names, which is what operators read in other tools' output and type.
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "removeFromCRL": x509.ReasonFlags.remove_from_crl,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}

# RFC 5280 §5.2.3: a CRL number is a non-negative integer of at most 20 octets.
_MAX_CRL_NUMBER = (1 << 159) - 1


def parse_reason(text: str) -> x509.ReasonFlags:
    """The ReasonFlags for an RFC 5280 reason name such as ``keyCompromise``."""
    try:
        return REVOCATION_REASONS[text.strip()]
    except KeyError:
        raise ValueError(
            f"unknown revocation reason {text!r}; valid reasons: "
            f"{', '.join(REVOCATION_REASONS)}"
        ) from None


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime.datetime
    reason: x509.ReasonFlags | None


def _require_aware(value: datetime.datetime, what: str) -> None:
    # A naive datetime would be read as UTC by cryptography, silently shifting
    # revocation times by the server's UTC offset.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")


def _authority_key_identifier(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        raise ValueError(
            f"issuer {issuer_cert.subject.rfc4514_string()!r} has no "
            "SubjectKeyIdentifier to reference from the CRL's AuthorityKeyIdentifier"
        ) from None
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def _check_issuer(issuer_cert: x509.Certificate, issuer_key: SigningKey) -> None:
    spki = PublicFormat.SubjectPublicKeyInfo
    if issuer_key.public_key().public_bytes(Encoding.DER, spki) != issuer_cert.public_key().public_bytes(
        Encoding.DER, spki
    ):
        raise ValueError(
            f"issuer key does not belong to {issuer_cert.subject.rfc4514_string()!r}; "
            "the CRL would not verify"
        )
    try:
        usage = issuer_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.crl_sign:
        raise ValueError(
            f"issuer {issuer_cert.subject.rfc4514_string()!r} lacks the cRLSign key "
            "usage; relying parties would reject its CRLs"
        )


def _revoked_certificate(entry: RevokedEntry) -> x509.RevokedCertificate:
    if entry.serial <= 0:
        raise ValueError(f"revoked serial must be positive, got {entry.serial}")
    _require_aware(entry.revoked_at, f"revocation time of serial {entry.serial:x}")
    if entry.reason is x509.ReasonFlags.remove_from_crl:
        # RFC 5280 §5.3.1: removeFromCRL only appears in delta CRLs; in a full CRL
        # it would list as revoked a certificate the operator meant to reinstate.
        raise ValueError(
            f"serial {entry.serial:x}: removeFromCRL is only valid in delta CRLs; "
            "drop the entry from the full CRL instead"
        )
    builder = x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(
        entry.revoked_at
    )
    # RFC 5280 §5.3.1: the reasonCode "unspecified" SHOULD be absent rather than sent.
    if entry.reason is not None and entry.reason is not x509.ReasonFlags.unspecified:
        builder = builder.add_extension(x509.CRLReason(entry.reason), critical=False)
    return builder.build()


def build_crl(
    issuer_cert: x509.Certificate,
    issuer_key: SigningKey,
    revoked: Iterable[RevokedEntry],
    *,
    crl_number: int,
    this_update: datetime.datetime,
    next_update: datetime.datetime,
    lint: bool = True,
) -> x509.CertificateRevocationList:
    """A full CRL of ``issuer_cert``, signed with ``issuer_key``.

    Raises ValueError for inputs that cannot make a valid CRL and pki.lint.LintError
    (before the issuer key signs) when the CRL violates RFC 5280, unless ``lint=False``.
    """
    _require_aware(this_update, "this_update")
    _require_aware(next_update, "next_update")
    if next_update <= this_update:
        raise ValueError(
            f"next_update ({next_update.isoformat()}) must be after "
            f"this_update ({this_update.isoformat()})"
        )
    if not 0 <= crl_number <= _MAX_CRL_NUMBER:
        raise ValueError(f"crl_number must be in 0 .. 2**159-1, got {crl_number}")
    _check_issuer(issuer_cert, issuer_key)

    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
        .add_extension(_authority_key_identifier(issuer_cert), critical=False)
    )
    seen: set[int] = set()
    for entry in revoked:
        if entry.serial in seen:
            raise ValueError(f"serial {entry.serial:x} is listed more than once")
        seen.add(entry.serial)
        builder = builder.add_revoked_certificate(_revoked_certificate(entry))

    return sign_crl_linted(
        builder, issuer_key, signature_hash_for(issuer_key), lint=lint
    )
