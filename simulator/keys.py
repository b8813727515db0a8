"""A simulated station's own key pairs and certificates, kept as files for its TLS client."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def new_private_key(spec: str = "ec-p256"):
    if spec == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if spec == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if spec.startswith("rsa-") and spec[4:].isdigit():
        return rsa.generate_private_key(public_exponent=65537, key_size=int(spec[4:]))
    raise ValueError(f"unknown key type {spec!r}: ec-p256, ec-p384 or rsa-<bits>")


def csr_pem(key, common_name: str, organization: str | None) -> str:
    """A PKCS#10 request as a station sends it in SignCertificateRequest (A02: CN and O only)."""
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes)).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


def write_private(path: Path, data: bytes) -> Path:
    """Write a file only the owner can read (the station's private key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def chain_matches_key(chain_pem: str, key) -> bool:
    leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return leaf.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)
