"""Firmware signing (L01): the manufacturer root ChargeCA manages for a CSO's own builds, its
firmware-signing certificate, signing an image, and checking a signing certificate and a
signature the way a station does before it installs.

Both keys are CA keys: they live in the key store (an encrypted file, or generated inside the
PKCS#11 token and never extractable), exactly like the CSMS root's. The manufacturer root is an
authority of its own role, apart from the CSMS hierarchy: stations install it as
ManufacturerRootCertificate, and a CSMS root rollover never touches it.

The signature is over the whole image with SHA-256 (OCPP 2.0.1 L01, A00.FR.505/506): ECDSA
(DER-encoded) or RSA (PKCS#1 v1.5; RSA-PSS is accepted when verifying). It travels Base64 in
``UpdateFirmwareRequest.firmware.signature``; a station computes the digest as it reads the
file, so we sign the digest (``Prehashed``) and never hold an image in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlmodel import Session, select

from pki import profiles
from pki.authorities import Authority, authority_by_id, new_authority, organization
from pki.keystore import KeyStore
from pki.records import sign_and_record
from policies.model import Decision, Policy
from storage.certificates import CertificateAuthority, CertStatus, IssuedCertificate
from storage.types import utcnow

MANUFACTURER_ROLE = "manufacturer"       # CertificateAuthority.role of our manufacturer root
FIRMWARE_KIND = "firmware"               # IssuedCertificate.kind of our firmware-signing certificate
SIGNATURE_MAX = 800                      # UpdateFirmwareRequest.firmware.signature, Base64
CERTIFICATE_MAX = 5500                   # UpdateFirmwareRequest.firmware.signingCertificate, PEM


def sha256_hex(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode()


# --- our manufacturer root and firmware-signing certificate ------------------------------------

@dataclass(frozen=True)
class FirmwareSigner:
    """The manufacturer root ChargeCA manages and the firmware-signing certificate under it."""

    root: Authority
    record: IssuedCertificate
    certificate: x509.Certificate


def _signing_certificate_builder(organization_name: str, public_key, validity: profiles.Validity,
                                 issuer: Authority) -> x509.CertificateBuilder:
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(profiles.name(f"{organization_name} Firmware Signing", organization_name))
        .issuer_name(issuer.certificate.subject)
        .public_key(public_key)
        .not_valid_before(validity.not_before)
        .not_valid_after(validity.not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    )


def current_signer(session: Session) -> FirmwareSigner | None:
    """Our active firmware-signing certificate, if one was made."""
    record = session.exec(select(IssuedCertificate).where(
        IssuedCertificate.kind == FIRMWARE_KIND, IssuedCertificate.status == CertStatus.ACTIVE)
        .order_by(IssuedCertificate.id.desc())).first()
    if record is None:
        return None
    root = authority_by_id(session, record.issuer_id)
    return FirmwareSigner(root, record, x509.load_pem_x509_certificate(record.certificate_pem.encode()))


def ensure_signer(session: Session, keystore: KeyStore, *, policy: Policy, urls: profiles.PublicUrls,
                  now: datetime | None = None) -> tuple[FirmwareSigner, bool]:
    """Our manufacturer root and firmware-signing certificate, made on first use (both keys in
    the key store); later calls return them. The bool: made now."""
    existing = current_signer(session)
    if existing is not None and existing.certificate.not_valid_after_utc > (now or utcnow()):
        return existing, False
    now = now or utcnow()
    org = organization(session)
    root_record = session.exec(select(CertificateAuthority).where(
        CertificateAuthority.role == MANUFACTURER_ROLE, CertificateAuthority.active == True)
        .order_by(CertificateAuthority.generation.desc())).first()
    if root_record is None:
        generation = 1
        root = new_authority(session, keystore, role=MANUFACTURER_ROLE, name=f"{org} Manufacturer Root CA G1",
                             generation=generation, parent=None, policy=policy, urls=urls, organization=org,
                             now=now)
    else:
        root = authority_by_id(session, root_record.id)
    label = f"firmware-signing-{uuid.uuid4().hex[:8]}"
    key = keystore.create(label, policy.keys.ca_key)
    validity = profiles.Validity.starting(now, policy.validity.sub_ca_days, policy.validity.backdate_minutes,
                                          root.certificate.not_valid_after_utc)
    builder = _signing_certificate_builder(org, key.public_key(), validity, root)
    certificate, record = sign_and_record(session, builder, root.key(keystore), issuer_id=root.id,
                                          kind=FIRMWARE_KIND, status=CertStatus.ACTIVE, key_label=label)
    if existing is not None:
        existing.record.status = CertStatus.SUPERSEDED
        existing.record.superseded_by = record.id
        session.add(existing.record)
    session.flush()
    return FirmwareSigner(root, record, certificate), True


def sign_digest(keystore: KeyStore, signer: FirmwareSigner, digest: bytes) -> str:
    """The Base64 signature of an image whose SHA-256 is ``digest``, by our signing key."""
    key = keystore.load(signer.record.key_label)
    prehashed = utils.Prehashed(hashes.SHA256())
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(digest, padding.PKCS1v15(), prehashed)
    else:
        signature = key.sign(digest, ec.ECDSA(prehashed))
    return base64.b64encode(signature).decode()


# --- checks (what a station does before it installs) -------------------------------------------

def load_certificate(text: str, what: str, rule: str) -> x509.Certificate | Decision:
    """One PEM certificate, or a refusal naming ``rule``."""
    if len(text) > CERTIFICATE_MAX:
        return Decision.refuse(rule, f"{what} is longer than the {CERTIFICATE_MAX} characters OCPP allows")
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        return Decision.refuse(rule, f"{what} is not a PEM certificate")
    if len(certificates) != 1:
        return Decision.refuse(rule, f"{what} must be exactly one PEM certificate, not {len(certificates)}")
    return certificates[0]


def decode_signature(signature: str) -> bytes | Decision:
    if not signature or len(signature) > SIGNATURE_MAX:
        return Decision.refuse("firmware.signature.format",
                               f"the signature must be Base64 of at most {SIGNATURE_MAX} characters")
    try:
        return base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return Decision.refuse("firmware.signature.format", "the signature is not Base64")


def verify_digest(certificate: x509.Certificate, digest: bytes, signature: str) -> Decision:
    """Whether ``signature`` (Base64) over the image whose SHA-256 is ``digest`` verifies with the
    signing certificate's key (L01.FR.11: the station checks it; we check it before sending)."""
    raw = decode_signature(signature)
    if isinstance(raw, Decision):
        return raw
    key = certificate.public_key()
    prehashed = utils.Prehashed(hashes.SHA256())
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, digest, ec.ECDSA(prehashed))
        elif isinstance(key, rsa.RSAPublicKey):
            _verify_rsa(key, raw, digest, prehashed)
        else:
            return Decision.refuse("firmware.signature.algorithm",
                                   "the signing certificate's key is neither RSA nor EC")
    except InvalidSignature:
        return Decision.refuse("firmware.signature.invalid",
                               "the signature does not verify over the image with the signing certificate's key "
                               "(SHA-256, ECDSA or RSA)")
    return Decision.allow()


def _verify_rsa(key: rsa.RSAPublicKey, raw: bytes, digest: bytes, prehashed: utils.Prehashed) -> None:
    try:
        key.verify(raw, digest, padding.PKCS1v15(), prehashed)
    except InvalidSignature:
        key.verify(raw, digest, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
                   prehashed)


def issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def check_signing_certificate(certificate: x509.Certificate, root: x509.Certificate, now: datetime,
                              revoked: bool) -> Decision:
    """The signing certificate is issued by ``root``, within its validity (and the root within
    its own), not revoked, and may sign (not a CA; digitalSignature when key usage is given)."""
    if not issued_by(certificate, root):
        return Decision.refuse("firmware.certificate.chain",
                               f"the signing certificate is not signed by {root.subject.rfc4514_string()}")
    for what, cert in (("signing certificate", certificate), ("manufacturer root", root)):
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return Decision.refuse("firmware.certificate.validity",
                                   f"the {what} is valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
                                   f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, not now")
    if revoked:
        return Decision.refuse("firmware.certificate.revoked", "the signing certificate is revoked")
    try:
        if certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return Decision.refuse("firmware.certificate.usage", "the signing certificate is a CA certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        if not certificate.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return Decision.refuse("firmware.certificate.usage",
                                   "the signing certificate's key usage does not allow digitalSignature")
    except x509.ExtensionNotFound:
        pass
    return Decision.allow()


def is_self_signed_ca(certificate: x509.Certificate) -> Decision:
    """A manufacturer root: self-signed, a CA."""
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        return Decision.refuse("firmware.root.not_ca", "a manufacturer root must be a CA certificate")
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature):
        return Decision.refuse("firmware.root.not_self_signed", "a manufacturer root must be self-signed")
    return Decision.allow()


__all__ = [
    "CERTIFICATE_MAX",
    "FIRMWARE_KIND",
    "MANUFACTURER_ROLE",
    "SIGNATURE_MAX",
    "FirmwareSigner",
    "check_signing_certificate",
    "current_signer",
    "decode_signature",
    "ensure_signer",
    "is_self_signed_ca",
    "issued_by",
    "load_certificate",
    "pem",
    "sha256_hex",
    "sign_digest",
    "verify_digest",
]
