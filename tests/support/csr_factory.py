"""CSRs as stations make them, built with cryptography or with the openssl command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def new_key(spec: str = "ec-p256"):
    if spec == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if spec == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if spec == "ec-p521":
        return ec.generate_private_key(ec.SECP521R1())
    if spec.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(spec[4:]))
    raise ValueError(spec)


def make_csr(cn: str | None, org: str | None = "Test CSO", key=None, *, ca: bool = False,
             hash_algorithm: hashes.HashAlgorithm | None = None, extra_names=()) -> tuple[str, object]:
    key = key or new_key()
    attributes = []
    if org is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if cn is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    attributes.extend(extra_names)
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    csr = builder.sign(key, hash_algorithm or hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def openssl_csr(directory: Path, cn: str, org: str, key_spec: str) -> str:
    """A CSR made by `openssl req`, the way a station vendor's tooling makes one."""
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / f"{cn}-{key_spec}.key"
    csr_file = directory / f"{cn}-{key_spec}.csr"
    if key_spec.startswith("rsa-"):
        newkey = ["-newkey", f"rsa:{key_spec[4:]}"]
    else:
        curve = {"ec-p256": "prime256v1", "ec-p384": "secp384r1"}[key_spec]
        newkey = ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{curve}"]
    subprocess.run(["openssl", "req", "-new", *newkey, "-nodes", "-keyout", str(key_file),
                    "-out", str(csr_file), "-subj", f"/O={org}/CN={cn}", "-sha256"],
                   check=True, capture_output=True)
    return csr_file.read_text()
