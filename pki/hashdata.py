"""OCPP 2.0.1 CertificateHashDataType: how stations and the CSMS name a certificate.

The values are those of an RFC 6960 OCSP CertID (spec §5.5), computed the way OpenSSL
does, because stations compute them with OpenSSL or libraries built on it:

* issuerNameHash covers the complete DER ``Name`` of the certificate's issuer field,
  tag and length included, in the exact bytes the certificate carries;
* issuerKeyHash covers the issuer's subjectPublicKey BIT STRING contents without tag,
  length and the leading unused-bits octet;
* serialNumber is hex without leading zeros.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

__all__ = [
    "HASH_ALGORITHMS",
    "CertificateHashData",
    "certificate_hash_data",
    "issuer_name_der",
    "subject_name_der",
    "subject_public_key_bits",
]

HASH_ALGORITHMS: tuple[str, ...] = ("SHA256", "SHA384", "SHA512")

_HASHLIB_NAMES = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}
_HEX_DIGITS = frozenset(string.hexdigits)
_OCPP_KEYS = ("hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber")


def _check_algorithm(algorithm: str) -> str:
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(
            f"unsupported hash algorithm {algorithm!r}; "
            f"OCPP allows {', '.join(HASH_ALGORITHMS)}"
        )
    return algorithm


def _canonical_serial(serial_hex: str) -> str:
    return serial_hex.lower().lstrip("0") or "0"


def _serial_hex(serial: int) -> str:
    if serial < 0:
        # RFC 5280 forbids negative serials, and OCPP's hex rendering has no sign;
        # hashing such a certificate would name something no station can report.
        raise ValueError(f"certificate serial number is negative ({serial})")
    return format(serial, "x")


@dataclass(frozen=True)
class CertificateHashData:
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def to_ocpp(self) -> dict[str, str]:
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }

    @classmethod
    def from_ocpp(cls, data: Mapping[str, Any]) -> CertificateHashData:
        """Parse an OCPP CertificateHashDataType; extra keys such as an OCSPRequestDataType's
        responderURL are ignored, values are kept as sent (``matches`` normalises)."""
        missing = [key for key in _OCPP_KEYS if key not in data]
        if missing:
            raise ValueError(f"CertificateHashData lacks {', '.join(missing)}")
        values: dict[str, str] = {}
        for key in _OCPP_KEYS:
            value = data[key]
            if not isinstance(value, str):
                raise ValueError(
                    f"CertificateHashData.{key} must be a string, got {type(value).__name__}"
                )
            values[key] = value
        _check_algorithm(values["hashAlgorithm"])
        for key in _OCPP_KEYS[1:]:
            if not values[key] or not _HEX_DIGITS.issuperset(values[key]):
                raise ValueError(
                    f"CertificateHashData.{key} must be a non-empty hex string, "
                    f"got {values[key]!r}"
                )
        return cls(
            hash_algorithm=values["hashAlgorithm"],
            issuer_name_hash=values["issuerNameHash"],
            issuer_key_hash=values["issuerKeyHash"],
            serial_number=values["serialNumber"],
        )

    def _canonical(self) -> tuple[str, str, str, str]:
        # identifierString is case-insensitive and stations differ in whether they
        # keep the serial's leading zero octets, so compare a normal form.
        return (
            self.hash_algorithm.upper(),
            self.issuer_name_hash.lower(),
            self.issuer_key_hash.lower(),
            _canonical_serial(self.serial_number),
        )

    def matches(self, other: CertificateHashData) -> bool:
        """Whether both name the same certificate under the same hash algorithm."""
        return self._canonical() == other._canonical()


def _asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def issuer_name_der(cert: x509.Certificate) -> bytes:
    """The certificate's issuer Name exactly as encoded in it (not re-encoded)."""
    return _asn1_certificate(cert)["tbs_certificate"]["issuer"].dump()


def subject_name_der(cert: x509.Certificate) -> bytes:
    """The certificate's subject Name exactly as encoded in it (not re-encoded)."""
    return _asn1_certificate(cert)["tbs_certificate"]["subject"].dump()


def subject_public_key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING contents without the unused-bits octet."""
    bit_string = _asn1_certificate(cert)["tbs_certificate"]["subject_public_key_info"][
        "public_key"
    ]
    # .contents is the encoded value after tag and length; its first octet counts the
    # unused bits, which a CertID key hash leaves out.
    return bit_string.contents[1:]


def certificate_hash_data(
    cert: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256"
) -> CertificateHashData:
    """The OCPP CertificateHashData of ``cert``, issued by ``issuer`` (itself for a root)."""
    hash_name = _HASHLIB_NAMES[_check_algorithm(algorithm)]
    if cert.issuer != issuer.subject:
        raise ValueError(
            f"{issuer.subject.rfc4514_string()!r} is not the issuer of the certificate; "
            f"its issuer is {cert.issuer.rfc4514_string()!r}"
        )
    return CertificateHashData(
        hash_algorithm=algorithm,
        issuer_name_hash=hashlib.new(hash_name, issuer_name_der(cert)).hexdigest(),
        issuer_key_hash=hashlib.new(
            hash_name, subject_public_key_bits(issuer)
        ).hexdigest(),
        serial_number=_serial_hex(cert.serial_number),
    )
