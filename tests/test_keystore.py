"""CA keys are encrypted at rest, never replaced, and unreadable without the passphrase."""

from __future__ import annotations

import stat
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from pki.keystore import EncryptedFileKeyStore, KeyStoreError

PASS = b"correct horse battery staple"


@pytest.mark.parametrize("spec", ["ec-p256", "ec-p384", "rsa-3072"])
def test_key_file_is_encrypted_and_private(tmp_path, spec):
    store = EncryptedFileKeyStore(tmp_path / "keys", PASS)
    key = store.create("ca", spec)
    path = tmp_path / "keys" / "ca.key.pem"
    data = path.read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(data, password=None)
    # An independent reader (OpenSSL) decrypts it with the passphrase and sees PBKDF2 with many rounds.
    parsed = subprocess.run(["openssl", "asn1parse", "-in", str(path)], capture_output=True, text=True,
                            check=True).stdout
    assert "PBKDF2" in parsed and "aes-256-cbc" in parsed
    out = subprocess.run(["openssl", "pkey", "-in", str(path), "-passin", f"pass:{PASS.decode()}", "-pubout"],
                         capture_output=True, text=True, check=True).stdout
    assert out.encode() == key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def test_wrong_passphrase_is_a_clear_error(tmp_path):
    EncryptedFileKeyStore(tmp_path, PASS).create("ca", "ec-p256")
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        EncryptedFileKeyStore(tmp_path, b"another passphrase, long enough").load("ca")


def test_existing_key_is_never_replaced(tmp_path):
    store = EncryptedFileKeyStore(tmp_path, PASS)
    store.create("ca", "ec-p256")
    before = (tmp_path / "ca.key.pem").read_bytes()
    with pytest.raises(KeyStoreError, match="already exists"):
        EncryptedFileKeyStore(tmp_path, PASS).create("ca", "ec-p256")
    assert (tmp_path / "ca.key.pem").read_bytes() == before


def test_short_passphrase_refused(tmp_path):
    with pytest.raises(KeyStoreError, match="at least 16"):
        EncryptedFileKeyStore(tmp_path, b"short")


def test_label_cannot_escape_the_directory(tmp_path):
    store = EncryptedFileKeyStore(tmp_path / "keys", PASS)
    with pytest.raises(KeyStoreError, match="invalid key label"):
        store.create("../evil", "ec-p256")
