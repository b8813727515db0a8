"""CA keys are encrypted at rest, never replaced, and unreadable without the passphrase."""

from __future__ import annotations

import dataclasses
import os
import stat
import subprocess
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto.keys import EncryptedPrivateKeyInfo
from conftest import both_keystores
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from softhsm import TOKEN_PIN

from api.core.settings import SettingsError, load_settings, write_config
from pki.keystore import EncryptedFileKeyStore, KeyStoreError
from pki.pkcs11_keystore import Pkcs11KeyStore, Pkcs11Settings

pytestmark = pytest.mark.fast

PASS = b"correct horse battery staple"


@pytest.mark.production_kdf
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
    kdf = EncryptedPrivateKeyInfo.load(pem.unarmor(data)[2])["encryption_algorithm"]["parameters"]
    assert kdf["key_derivation_func"]["parameters"]["iteration_count"].native == 200_000
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


# --- both backends: the KeyStore protocol --------------------------------------------------------

keystore_kind = both_keystores()


@pytest.mark.parametrize("spec", ["ec-p256", "ec-p384", "rsa-2048"])
def test_created_key_signs_and_is_found_again(keystore, spec):
    key = keystore.create("ca-x", spec)
    assert keystore.exists("ca-x") and not keystore.exists("ca-y")
    loaded = keystore.load("ca-x")
    assert _spki(loaded) == _spki(key)
    if isinstance(loaded, ec.EllipticCurvePrivateKey):
        signature = loaded.sign(b"tbs", ec.ECDSA(hashes.SHA256()))
        key.public_key().verify(signature, b"tbs", ec.ECDSA(hashes.SHA256()))
    else:
        for scheme in (asym_padding.PKCS1v15(),
                       asym_padding.PSS(asym_padding.MGF1(hashes.SHA256()), asym_padding.PSS.DIGEST_LENGTH)):
            key.public_key().verify(loaded.sign(b"tbs", scheme, hashes.SHA256()), b"tbs", scheme, hashes.SHA256())
    with pytest.raises(KeyStoreError, match="already exists"):
        keystore.create("ca-x", spec)
    with pytest.raises(KeyStoreError, match="not found"):
        keystore.load("ca-y")


def test_tls_keys_are_files_the_tls_stack_can_load(keystore, tmp_path):
    keystore.create("server-ec", "ec-p256", for_tls=True)
    path, passphrase = keystore.file_for_tls("server-ec")
    assert path.parent == tmp_path / "keys" and passphrase
    serialization.load_pem_private_key(path.read_bytes(), password=passphrase)


# --- the token backend -------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["ec-p256", "rsa-2048"])
def test_token_key_never_leaves_the_token(softhsm_token, tmp_path, spec):
    store = Pkcs11KeyStore(softhsm_token, EncryptedFileKeyStore(tmp_path / "keys", PASS))
    key = store.create("root-ca-1", spec)
    assert store.key_attributes("root-ca-1") == {
        "token": True, "sensitive": True, "extractable": False, "never_extractable": True, "always_sensitive": True}
    assert not (tmp_path / "keys").exists() or not list((tmp_path / "keys").iterdir()), "no key file was written"
    with pytest.raises(KeyStoreError, match="cannot be exported"):
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(KeyStoreError, match="cannot be exported"):
        key.private_numbers()
    with pytest.raises(KeyStoreError, match="TLS keys must be created"):
        store.file_for_tls("root-ca-1")

    # Straight through PKCS#11, without our wrapper: the token refuses to reveal or wrap the key.
    import pkcs11

    # The store's login is the process's: this session is logged in too.
    session = pkcs11.lib(str(softhsm_token.module)).get_token(token_label=softhsm_token.token_label).open(rw=True)
    try:
        private = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label="root-ca-1")
        secret = pkcs11.Attribute.VALUE if spec.startswith("ec") else pkcs11.Attribute.PRIVATE_EXPONENT
        with pytest.raises(pkcs11.AttributeSensitive):
            private[secret]
        wrapping = session.generate_key(pkcs11.KeyType.AES, 256, template={pkcs11.Attribute.WRAP: True})
        with pytest.raises((pkcs11.KeyUnextractable, pkcs11.KeyNotWrappable)):
            wrapping.wrap_key(private, mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD)
    finally:
        session.close()  # also logs the process out: the store below logs in again

    # A new process (a new store on the same softhsm_token) finds the key and signs with it.
    again = Pkcs11KeyStore(softhsm_token, EncryptedFileKeyStore(tmp_path / "keys", PASS))
    assert _spki(again.load("root-ca-1")) == _spki(key)


def test_pin_file_readable_by_others_is_refused(softhsm_token, tmp_path):
    os.chmod(softhsm_token.pin_file, 0o644)
    with pytest.raises(KeyStoreError, match="mode 0644") as refused:
        Pkcs11KeyStore(softhsm_token, EncryptedFileKeyStore(tmp_path / "keys", PASS))
    assert TOKEN_PIN not in str(refused.value)


def test_wrong_pin_is_a_clear_error_without_the_pin(softhsm_token, tmp_path):
    softhsm_token.pin_file.write_text("9999-wrong\n")
    with pytest.raises(KeyStoreError, match="refused the PIN") as refused:
        Pkcs11KeyStore(softhsm_token, EncryptedFileKeyStore(tmp_path / "keys", PASS))
    assert "9999-wrong" not in str(refused.value)
    unknown = dataclasses.replace(softhsm_token, token_label="no-such-token")
    softhsm_token.pin_file.write_text(TOKEN_PIN)
    with pytest.raises(KeyStoreError, match="no PKCS#11 token labelled 'no-such-token'"):
        Pkcs11KeyStore(unknown, EncryptedFileKeyStore(tmp_path / "keys", PASS))


def _spki(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_keystore_settings_round_trip_and_name_what_is_missing(tmp_path):
    token = Pkcs11Settings(Path('/opt/hsm/lib "vendor".so'), "ca token", tmp_path / "pin")
    settings = load_settings(tmp_path / "data").with_overrides(fqdn="csms.test", pkcs11=token)
    write_config(settings)
    assert load_settings(tmp_path / "data").pkcs11 == token
    assert load_settings(tmp_path / "data").keystore_backend == "pkcs11"

    settings.config_file.write_text('[chargeca]\nfqdn = "csms.test"\n[keystore]\nbackend = "pkcs11"\nmodule = "/x.so"\n')
    with pytest.raises(SettingsError, match=r"\[keystore\] with backend pkcs11 needs token_label, pin_file"):
        load_settings(tmp_path / "data")
    settings.config_file.write_text('[keystore]\nbackend = "hsm"\n')
    with pytest.raises(SettingsError, match=r'backend must be "file" or "pkcs11"'):
        load_settings(tmp_path / "data")


def test_a_lost_token_session_is_reopened(softhsm_token, tmp_path):
    import pkcs11

    store = Pkcs11KeyStore(softhsm_token, EncryptedFileKeyStore(tmp_path / "keys", PASS))
    key = store.create("station-ca-1", "ec-p256")
    # What an HSM restart or a network HSM's dropped connection does: every session is gone.
    pkcs11.lib(str(softhsm_token.module)).reinitialize()
    signature = key.sign(b"after the drop", ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(signature, b"after the drop", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("content", [None, b"\xff\xfe1234-test-pin\n"], ids=["directory", "not-utf8"])
def test_pin_file_not_readable_as_text_is_a_clear_error(softhsm_token, tmp_path, content):
    softhsm_token.pin_file.unlink()
    if content is None:
        softhsm_token.pin_file.mkdir(mode=0o700)
    else:
        softhsm_token.pin_file.write_bytes(content)
        softhsm_token.pin_file.chmod(0o600)
    with pytest.raises(KeyStoreError, match=f"PIN file {softhsm_token.pin_file}") as refused:
        Pkcs11KeyStore(softhsm_token, EncryptedFileKeyStore(tmp_path / "keys", PASS))
    # The decoder's own message would have quoted the PIN's first byte.
    assert "0xff" not in str(refused.value) and "1234" not in str(refused.value)


def test_key_file_that_cannot_be_read_is_a_clear_error(tmp_path):
    (tmp_path / "ca.key.pem").mkdir()
    with pytest.raises(KeyStoreError, match="key 'ca' cannot be read"):
        EncryptedFileKeyStore(tmp_path, PASS).load("ca")


def test_tls_key_the_passphrase_does_not_open_is_named(tmp_path):
    # OpenSSL says only "PEM lib" of it, and `chargeca serve` stopped with that traceback.
    EncryptedFileKeyStore(tmp_path, PASS).create("server-ec", "ec-p256", for_tls=True)
    with pytest.raises(KeyStoreError, match="'server-ec' cannot be decrypted: wrong passphrase"):
        EncryptedFileKeyStore(tmp_path, b"another passphrase, long enough").file_for_tls("server-ec")
