"""Security profile 3: is this client certificate a valid certificate of this station?

Pure: the caller supplies the station CAs, the organisation name and the time. Revocation is
looked up by the caller (it needs the database) once the issuer is known from the verified chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from api.core.refusal import Refusal
from pki.serials import serial_hex

# Station certificates carry no subjectAltName (their CN is a serial number, not a host), and
# cryptography's web-PKI defaults demand one on leaves; everything else keeps the defaults
# (EKU clientAuth, key usage, basic constraints, path length).
_LEAF_POLICY = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None)
_CA_POLICY = verification.ExtensionPolicy.webpki_defaults_ca()


class CertificateRefused(Refusal):
    """The client certificate breaks a rule of profile 3 (``sp3.*``)."""


@dataclass(frozen=True)
class VerifiedStationCertificate:
    certificate: x509.Certificate
    issuer_ca_id: str
    serial_hex: str


def _values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def _check_validity(certificate: x509.Certificate, now: datetime) -> None:
    # On the wss listener OpenSSL verifies the chain, validity included, before admission runs,
    # so an expired or not-yet-valid certificate never gets here: OpenSSL's verdict is recorded
    # under these same rule names (api/ocpp/transport/tls_refusals.py). Deferring the check to admission
    # would need a verify callback that Python's ssl does not offer. The check stays for the
    # exact reason whenever a certificate reaches admission unverified (tests, a listener
    # reloaded mid-handshake) and because the verifier below would only say "chain".
    if now > certificate.not_valid_after_utc:
        raise CertificateRefused("sp3.expired",
                                 f"client certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if now < certificate.not_valid_before_utc:
        raise CertificateRefused("sp3.not_yet_valid",
                                 f"client certificate is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")


def _issuer_id(verified: verification.VerifiedClient, anchors: Mapping[str, x509.Certificate]) -> str:
    issuer = verified.chain[1]
    for ca_id, anchor in anchors.items():
        if anchor == issuer:  # compares the DER encodings, without building them again
            return ca_id
    # The chain ended at an anchor, so this cannot happen unless the anchors changed meanwhile.
    raise CertificateRefused("sp3.issuer", "client certificate issuer is not a station CA")


def verify_station_certificate(certificate: x509.Certificate, *, identity: str, organization: str,
                               anchors: Mapping[str, x509.Certificate], now: datetime) -> VerifiedStationCertificate:
    """A00.FR.403–405: the path ends at one of our station CAs (ca id → certificate), the
    subject's O is the CSO and its CN is the station identity. Raises CertificateRefused."""
    _check_validity(certificate, now)
    if not anchors:
        raise CertificateRefused("sp3.no_anchor", "no station CA is configured")
    verifier = (verification.PolicyBuilder()
                .store(verification.Store(list(anchors.values())))
                .time(now)
                .max_chain_depth(1)
                .extension_policies(ca_policy=_CA_POLICY, ee_policy=_LEAF_POLICY)
                .build_client_verifier())
    try:
        verified = verifier.verify(certificate, [])
    except verification.VerificationError as exc:
        raise CertificateRefused("sp3.chain", f"client certificate does not chain to a station CA: {exc}") from exc
    issuer_ca_id = _issuer_id(verified, anchors)
    organizations = _values(certificate.subject, NameOID.ORGANIZATION_NAME)
    if organizations != [organization]:
        raise CertificateRefused("sp3.organization",
                                 f"client certificate O={organizations!r}, expected {organization!r} (A00.FR.404)")
    common_names = _values(certificate.subject, NameOID.COMMON_NAME)
    if common_names != [identity]:
        raise CertificateRefused("sp3.common_name",
                                 f"client certificate CN={common_names!r} is not the station identity {identity!r} (A00.FR.405)")
    return VerifiedStationCertificate(certificate, issuer_ca_id, serial_hex(certificate.serial_number))
