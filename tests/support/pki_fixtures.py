"""A small, self-contained CA hierarchy (root -> sub-CA -> station leaf) for the pki tests.

Plain functions rather than pytest fixtures so that tests can build variations (bad
profiles, chosen serials) without going through conftest.py, which other engineers own.
Hierarchies are cached because RSA key generation dominates test time.
"""

from __future__ import annotations

import datetime
import functools
import pathlib
import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OPENSSL = shutil.which("openssl")

KeyKind = Literal["ec", "p384", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

# Captured once so every certificate of a test run agrees on "now" and the
# validity windows line up across root, sub-CA, leaf, CRL and OCSP response.
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
ORGANIZATION = "ChargeCA Test CSO"


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Hierarchy:
    root: Issued
    sub_ca: Issued
    leaf: Issued


def new_key(kind: KeyKind) -> PrivateKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key kind {kind!r}; expected 'ec', 'p384' or 'rsa'")


def hash_for(key: PrivateKey) -> hashes.HashAlgorithm:
    # Deliberately independent of pki.lint.signature_hash_for, so that fixtures do
    # not depend on the code under test.
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    subject_key: PrivateKey,
    issuer_key: PrivateKey,
    *,
    serial: int,
    path_length: int | None,
    key_usage_critical: bool = True,
    key_cert_sign: bool = True,
    basic_constraints_critical: bool = True,
) -> x509.CertificateBuilder:
    """A CA certificate builder; the keyword switches exist to produce lint-failing CAs."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(subject_key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=path_length),
            critical=basic_constraints_critical,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=key_cert_sign,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=key_usage_critical,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )


def leaf_builder(
    issuer: Issued,
    subject_key: PrivateKey,
    *,
    serial: int,
    station_serial: str = "CS-000042",
) -> x509.CertificateBuilder:
    """The design's station profile: CN = station serial, O = CSO, clientAuth only."""
    return (
        x509.CertificateBuilder()
        .subject_name(name(station_serial))
        .issuer_name(issuer.certificate.subject)
        .public_key(subject_key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.key.public_key()
            ),
            critical=False,
        )
    )


def make_root(kind: KeyKind, *, serial: int = 0x1001, key: PrivateKey | None = None) -> Issued:
    key = key or new_key(kind)
    subject = name(f"ChargeCA Test Root {kind.upper()}")
    builder = ca_builder(subject, subject, key, key, serial=serial, path_length=None)
    return Issued(builder.sign(key, hash_for(key)), key)


def make_sub_ca(root: Issued, kind: KeyKind, *, serial: int = 0x2002, key: PrivateKey | None = None) -> Issued:
    key = key or new_key(kind)
    builder = ca_builder(
        name(f"ChargeCA Test Sub-CA {kind.upper()}"),
        root.certificate.subject,
        key,
        root.key,
        serial=serial,
        path_length=0,
    )
    return Issued(builder.sign(root.key, hash_for(root.key)), key)


def make_leaf(issuer: Issued, kind: KeyKind, *, serial: int, station_serial: str = "CS-000042") -> Issued:
    key = new_key(kind)
    builder = leaf_builder(issuer, key, serial=serial, station_serial=station_serial)
    return Issued(builder.sign(issuer.key, hash_for(issuer.key)), key)


@functools.cache
def hierarchy(kind: KeyKind) -> Hierarchy:
    return _hierarchy(kind, make_root(kind), lambda root: make_sub_ca(root, kind))


_KEY_SPECS = {"ec": "ec-p256", "p384": "ec-p384", "rsa": "rsa-2048"}


def hierarchy_in(kind: KeyKind, keystore) -> Hierarchy:
    """``hierarchy(kind)`` with the root and sub-CA keys created in ``keystore`` (a token, say);
    the leaf's key stays in memory, as a station's would."""
    root = make_root(kind, key=keystore.create(f"fx-root-{kind}", _KEY_SPECS[kind]))
    return _hierarchy(kind, root, lambda root: make_sub_ca(
        root, kind, key=keystore.create(f"fx-sub-{kind}", _KEY_SPECS[kind])))


def _hierarchy(kind: KeyKind, root: Issued, sub_ca_of) -> Hierarchy:
    sub_ca = sub_ca_of(root)
    # A 16-byte serial whose top bit is set, so its DER INTEGER needs a 0x00 pad
    # octet that must not leak into hex renderings.
    leaf = make_leaf(sub_ca, kind, serial=0x8F3C_5A11_0042_7E19_C0DE_2B6D_91A4_0F55)
    return Hierarchy(root, sub_ca, leaf)


def write_pem(directory: pathlib.Path, filename: str, *certificates: x509.Certificate) -> pathlib.Path:
    path = directory / filename
    path.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
    )
    return path


class RecordingEcKey(ec.EllipticCurvePrivateKey):
    """A real EC key that counts how often cryptography asks it to sign."""

    def __init__(self, inner: ec.EllipticCurvePrivateKey) -> None:
        self._inner = inner
        self.sign_calls = 0

    def sign(self, data, signature_algorithm):
        self.sign_calls += 1
        return self._inner.sign(data, signature_algorithm)

    def public_key(self):
        return self._inner.public_key()

    @property
    def curve(self):
        return self._inner.curve

    @property
    def key_size(self):
        return self._inner.key_size

    def exchange(self, algorithm, peer_public_key):
        return self._inner.exchange(algorithm, peer_public_key)

    def private_numbers(self):
        return self._inner.private_numbers()

    def private_bytes(self, encoding, format, encryption_algorithm):
        return self._inner.private_bytes(encoding, format, encryption_algorithm)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def openssl(*args: str | pathlib.Path) -> subprocess.CompletedProcess[str]:
    """Run the openssl command line, the independent implementation tests compare with."""
    if OPENSSL is None:
        raise RuntimeError("the openssl command line is not installed")
    return subprocess.run(
        [OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
