"""Where CA and server private keys live: behind one small interface.

The default backend keeps each key as an encrypted PKCS#8 file (PBES2: PBKDF2-HMAC-SHA256,
AES-256-CBC), mode 0600, in a 0700 directory. The PKCS#11 backend (pki/pkcs11_keystore.py)
implements the same ``KeyStore`` protocol by returning a private-key object whose ``sign``
calls the token.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from policies.keys import KEY_SPECS

MIN_PASSPHRASE_CHARS = 16
_KDF_ROUNDS = 200_000


class KeyStoreError(RuntimeError):
    """A key is missing, already exists, or cannot be decrypted; the message says which."""


def generate_private_key(spec: str) -> PrivateKeyTypes:
    if spec == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if spec == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if spec.startswith("rsa-") and spec in KEY_SPECS:
        return rsa.generate_private_key(public_exponent=65537, key_size=int(spec[4:]))
    raise KeyStoreError(f"unknown key type {spec!r} (one of {', '.join(KEY_SPECS)})")


def encrypt_pkcs8(key: PrivateKeyTypes, passphrase: bytes, rounds: int | None = None) -> bytes:
    """PEM EncryptedPrivateKeyInfo with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC).

    Written here rather than with BestAvailableEncryption because that leaves the PBKDF2
    iteration count to OpenSSL's default of 2048, far too cheap for a CA key's passphrase.
    Any PKCS#8 reader (OpenSSL, cryptography) can decrypt the result.
    """
    rounds = _KDF_ROUNDS if rounds is None else rounds
    plain = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    salt, iv = os.urandom(16), os.urandom(16)
    secret = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=rounds).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    info = asn1_keys.EncryptedPrivateKeyInfo({
        "encryption_algorithm": {
            "algorithm": "pbes2",
            "parameters": {
                "key_derivation_func": {
                    "algorithm": "pbkdf2",
                    "parameters": {"salt": asn1_core.OctetString(salt), "iteration_count": rounds,
                                   "prf": {"algorithm": "sha256", "parameters": None}},
                },
                "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
            },
        },
        "encrypted_data": ciphertext,
    })
    return asn1_pem.armor("ENCRYPTED PRIVATE KEY", info.dump())


class KeyStore(Protocol):
    # for_tls: the key will be loaded by the TLS stack (``file_for_tls``), which reads files only.
    def create(self, label: str, spec: str, *, for_tls: bool = False) -> PrivateKeyTypes: ...
    def load(self, label: str) -> PrivateKeyTypes: ...
    def exists(self, label: str) -> bool: ...
    def file_for_tls(self, label: str) -> tuple[Path, bytes]: ...


class EncryptedFileKeyStore:
    """Keys as encrypted PEM files; decrypted keys are cached in memory for the process."""

    def __init__(self, directory: Path, passphrase: bytes) -> None:
        if len(passphrase) < MIN_PASSPHRASE_CHARS:
            raise KeyStoreError(
                f"key passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")
        self._directory = directory
        self._passphrase = passphrase
        self._cache: dict[str, PrivateKeyTypes] = {}
        self._verified: set[str] = set()   # TLS keys this passphrase was seen to open
        self._lock = threading.Lock()

    def _path(self, label: str) -> Path:
        if not label or "/" in label or label.startswith("."):
            raise KeyStoreError(f"invalid key label {label!r}")
        return self._directory / f"{label}.key.pem"

    def exists(self, label: str) -> bool:
        return self._path(label).exists()

    def create(self, label: str, spec: str, *, for_tls: bool = False) -> PrivateKeyTypes:
        key = generate_private_key(spec)
        pem = encrypt_pkcs8(key, self._passphrase)
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self._directory, 0o700)
        path = self._path(label)
        try:
            # O_EXCL: an existing key is never replaced, whatever the caller believes.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise KeyStoreError(f"key {label!r} already exists; refusing to replace it") from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        with self._lock:
            self._cache[label] = key
        return key

    def load(self, label: str) -> PrivateKeyTypes:
        with self._lock:
            cached = self._cache.get(label)
        if cached is not None:
            return cached
        key = self._decrypt(label)
        with self._lock:
            self._cache[label] = key
        return key

    def _decrypt(self, label: str) -> PrivateKeyTypes:
        path = self._path(label)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise KeyStoreError(f"key {label!r} not found in {self._directory}") from exc
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise KeyStoreError(f"key {label!r} cannot be read from {path}: {reason}") from exc
        try:
            return serialization.load_pem_private_key(data, password=self._passphrase)
        except (ValueError, TypeError) as exc:
            raise KeyStoreError(f"key {label!r} cannot be decrypted: wrong passphrase or damaged file") from exc

    def file_for_tls(self, label: str) -> tuple[Path, bytes]:
        """Path and passphrase for ``SSLContext.load_cert_chain``: the key stays encrypted on disk.

        Decrypted once here, and not kept: OpenSSL says no more than "PEM lib" about a wrong
        passphrase or a damaged file, which stopped `chargeca serve` with a traceback."""
        if label not in self._verified:
            self._decrypt(label)
            self._verified.add(label)
        return self._path(label), self._passphrase
