"""The certificate profiles the CA can produce. Everything here is decided by the CA; nothing is
taken from a CSR but its public key.

Each function returns an unsigned, immutable ``x509.CertificateBuilder`` without a serial number:
the serial is drawn when the certificate is signed and recorded (pki.records).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# An http(s) URI (RFC 3986) with a host and at most a path: what the CRL DP and AIA extensions
# carry. Anything else was refused only by the lint of the first CA certificate that carried it,
# after that CA's key and the root's were made.
_PUBLIC_URL = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?",
                         re.ASCII)


def public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the base of the revocation links put in certificates; None when it can."""
    if _PUBLIC_URL.fullmatch(url) is None:
        return f"must be an http:// or https:// URL with a host and at most a path, not {url!r}"
    return None


@dataclass(frozen=True)
class PublicUrls:
    """Where relying parties fetch revocation data; nothing is put in certificates when unset."""

    base_url: str | None = None

    def crl_url(self, ca_id: str) -> str | None:
        return f"{self.base_url.rstrip('/')}/crl/{ca_id}.crl" if self.base_url else None

    def ocsp_url(self) -> str | None:
        return f"{self.base_url.rstrip('/')}/ocsp" if self.base_url else None


@dataclass(frozen=True)
class Validity:
    not_before: datetime
    not_after: datetime

    @classmethod
    def starting(cls, now: datetime, days: int, backdate_minutes: int,
                 issuer_not_after: datetime | None = None) -> "Validity":
        not_after = now + timedelta(days=days)
        if issuer_not_after is not None and not_after > issuer_not_after:
            # A certificate must not outlive the certificate of its issuer.
            not_after = issuer_not_after
        return cls(now - timedelta(minutes=backdate_minutes), not_after)


def name(common_name: str, organization: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _ca_key_usage() -> x509.KeyUsage:
    # digitalSignature: our CAs sign their own OCSP responses.
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False)


def _leaf_key_usage(key_encipherment: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=key_encipherment,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)


def _base(subject: x509.Name, issuer: x509.Name, public_key, validity: Validity,
          ski: x509.SubjectKeyIdentifier | None = None) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .not_valid_before(validity.not_before)
        .not_valid_after(validity.not_after)
        .add_extension(ski or x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


@lru_cache(maxsize=32)
def _issuer_facts(issuer: x509.Certificate) -> tuple[x509.Name, x509.AuthorityKeyIdentifier]:
    # cryptography builds .subject and .extensions anew from the DER at every access; a fleet
    # re-issue asks the same issuer thousands of times.
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return issuer.subject, x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _issuer_name(issuer: x509.Certificate) -> x509.Name:
    return _issuer_facts(issuer)[0]


def _issued_by(builder: x509.CertificateBuilder, issuer: x509.Certificate, issuer_ca_id: str,
               urls: PublicUrls) -> x509.CertificateBuilder:
    builder = builder.add_extension(_issuer_facts(issuer)[1], critical=False)
    crl = urls.crl_url(issuer_ca_id)
    if crl:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl)], relative_name=None, reasons=None,
            crl_issuer=None)]), critical=False)
    ocsp_url = urls.ocsp_url()
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]),
            critical=False)
    return builder


def root_ca(subject: x509.Name, public_key, validity: Validity) -> x509.CertificateBuilder:
    return (
        _base(subject, subject, public_key, validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
    )


def sub_ca(subject: x509.Name, public_key, validity: Validity, issuer: x509.Certificate,
           issuer_ca_id: str, urls: PublicUrls) -> x509.CertificateBuilder:
    builder = (
        _base(subject, _issuer_name(issuer), public_key, validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
    )
    return _issued_by(builder, issuer, issuer_ca_id, urls)


def cross_certificate(certified: x509.Certificate, validity: Validity, issuer: x509.Certificate,
                      issuer_ca_id: str, urls: PublicUrls) -> x509.CertificateBuilder:
    """``certified``'s subject, key, SKI and path length, vouched for by ``issuer``.

    A relying party that trusts ``issuer`` can then reach everything ``certified`` signed, and a
    station that insists on a new root signed by its current one (AdditionalRootCertificateCheck,
    M05) can take this as its new anchor. The SKI is copied rather than recomputed so that the
    AKI of certificates under ``certified`` matches whichever of the two a path builder meets.
    """
    constraints = certified.extensions.get_extension_for_class(x509.BasicConstraints).value
    if not constraints.ca:
        raise ValueError(f"{certified.subject.rfc4514_string()!r} is not a CA; only CAs are cross-certified")
    ski = certified.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        _base(certified.subject, _issuer_name(issuer), certified.public_key(), validity, ski)
        .add_extension(x509.BasicConstraints(ca=True, path_length=constraints.path_length), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
    )
    return _issued_by(builder, issuer, issuer_ca_id, urls)


def alt_name(name: str) -> x509.GeneralName:
    """An IP address as iPAddress (TLS clients match IPs only there), anything else as dNSName."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def csms_server(fqdn: str, organization: str, public_key, validity: Validity,
                issuer: x509.Certificate, issuer_ca_id: str, urls: PublicUrls,
                extra_names: Sequence[str] = ()) -> x509.CertificateBuilder:
    """CN = FQDN (A00.FR.510) and the same FQDN as dNSName: TLS clients check only the SAN.
    ``extra_names`` (host names, IP addresses) follow it in the SAN, e.g. for a lab without DNS."""
    if "*" in fqdn:
        raise ValueError("wildcard server names are not allowed (OCPP stations reject them)")
    # TLS_RSA_* key transport encrypts the premaster secret to the RSA server key.
    key_encipherment = isinstance(public_key, rsa.RSAPublicKey)
    builder = (
        _base(name(fqdn, organization), _issuer_name(issuer), public_key, validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(key_encipherment), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(fqdn), *(alt_name(n) for n in extra_names if n != fqdn)]), critical=False)
    )
    return _issued_by(builder, issuer, issuer_ca_id, urls)


def charging_station(station_id: str, organization: str, public_key, validity: Validity,
                     issuer: x509.Certificate, issuer_ca_id: str, urls: PublicUrls) -> x509.CertificateBuilder:
    """A00.FR.509/511: O = the CSO, CN = the station; no SAN (the CN is not a host name)."""
    builder = (
        _base(name(station_id, organization), _issuer_name(issuer), public_key, validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    return _issued_by(builder, issuer, issuer_ca_id, urls)


def v2g_secc(secc_id: str, organization: str, public_key, validity: Validity,
             issuer: x509.Certificate, issuer_ca_id: str, urls: PublicUrls) -> x509.CertificateBuilder:
    """ISO 15118-2 SECC leaf: keyAgreement serves the ECDH of the EV's TLS handshake, and no EKU
    (A00.FR.514: EVs may refuse certificates that carry one).

    No DC=CPO in the subject, although ISO 15118-2 PKIs commonly add it: pkilint's RFC 5280
    profile rejects a single-label domainComponent, and we only sign what lints clean.
    """
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError("an ISO 15118-2 SECC certificate needs an EC secp256r1 key")
    subject = name(secc_id, organization)
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)
    builder = (
        _base(subject, _issuer_name(issuer), public_key, validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
    )
    return _issued_by(builder, issuer, issuer_ca_id, urls)
