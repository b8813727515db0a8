"""Firmware signing (pki/firmware.py): ChargeCA's manufacturer root and firmware-signing key live
in the key store like every CA key (an encrypted file, or generated in the PKCS#11 token), sign
an image's SHA-256 as stations verify it (ECDSA or RSA with SHA-256 over the whole image), and
the checks a station makes refuse what it would refuse."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from datetime import timedelta

import pytest
from conftest import both_keystores
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pki_fixtures import make_leaf, make_root

from api.core.audit import run_in_session
from pki import firmware as signing
from storage.certificates import CertStatus
from storage.types import utcnow

keystore_kind = both_keystores()


def _signer(pki, policy=None):
    ctx = pki.ctx
    return run_in_session(ctx, lambda s: signing.ensure_signer(s, ctx.keystore, policy=policy or ctx.policy,
                                                               urls=ctx.urls))


def test_the_signer_is_made_once_with_its_keys_in_the_key_store(sqlite_pki, keystore_kind):
    signer, made = _signer(sqlite_pki)
    again, made_again = _signer(sqlite_pki)

    assert made and not made_again and again.record.id == signer.record.id
    assert signer.root.record.role == signing.MANUFACTURER_ROLE and signer.root.record.parent_id is None
    assert sqlite_pki.ctx.keystore.exists(signer.record.key_label)
    assert sqlite_pki.ctx.keystore.exists(signer.root.record.key_label)
    if keystore_kind == "pkcs11":
        # Generated in the token: the key object signs there and never leaves it.
        with pytest.raises(Exception):  # noqa: B017, PT011 - the token backend refuses any export
            sqlite_pki.ctx.keystore.load(signer.record.key_label).private_bytes(None, None, None)
    assert signer.certificate.issuer == signer.root.certificate.subject
    assert signing.check_signing_certificate(signer.certificate, signer.root.certificate, utcnow(), revoked=False)
    assert signer.record.status == CertStatus.ACTIVE


def test_a_signature_over_the_image_verifies_as_a_station_checks_it(sqlite_pki, keystore_kind):
    signer, _ = _signer(sqlite_pki)
    image = os.urandom(100_000)

    signature = signing.sign_digest(sqlite_pki.ctx.keystore, signer, hashlib.sha256(image).digest())

    # A station's check: the signature over the whole file, SHA-256, with the certificate's key.
    signer.certificate.public_key().verify(base64.b64decode(signature), image, ec.ECDSA(hashes.SHA256()))
    assert signing.verify_digest(signer.certificate, hashlib.sha256(image).digest(), signature)
    # One bit flipped: a replaced first byte could be the byte that was there (1 run in 256).
    damaged = hashlib.sha256(bytes([image[0] ^ 1]) + image[1:]).digest()
    assert signing.verify_digest(signer.certificate, damaged, signature).rule == "firmware.signature.invalid"


def test_an_rsa_signer_signs_pkcs1_v15(sqlite_pki):
    policy = dataclasses.replace(sqlite_pki.ctx.policy,
                                 keys=dataclasses.replace(sqlite_pki.ctx.policy.keys, ca_key="rsa-3072"))
    signer, _ = _signer(sqlite_pki, policy)
    image = os.urandom(1000)

    signature = signing.sign_digest(sqlite_pki.ctx.keystore, signer, hashlib.sha256(image).digest())

    assert isinstance(signer.certificate.public_key(), rsa.RSAPublicKey)
    signer.certificate.public_key().verify(base64.b64decode(signature), image, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_manufacturer_signatures_verify_and_pss_too(kind):
    root = make_root(kind, serial=0x5101)
    leaf = make_leaf(root, kind, serial=0x5102)
    image = os.urandom(5000)
    digest = hashlib.sha256(image).digest()
    if kind == "ec":
        signatures = [leaf.key.sign(image, ec.ECDSA(hashes.SHA256()))]
    else:
        signatures = [leaf.key.sign(image, padding.PKCS1v15(), hashes.SHA256()),
                      leaf.key.sign(image, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH),
                                    hashes.SHA256())]
    for raw in signatures:
        assert signing.verify_digest(leaf.certificate, digest, base64.b64encode(raw).decode())


def test_the_signing_certificate_checks_name_what_fails():
    root, other = make_root("ec", serial=0x5201), make_root("ec", serial=0x5202)
    leaf = make_leaf(root, "ec", serial=0x5203)
    now = utcnow()

    assert signing.check_signing_certificate(leaf.certificate, other.certificate, now, False).rule \
        == "firmware.certificate.chain"
    assert signing.check_signing_certificate(leaf.certificate, root.certificate, now, True).rule \
        == "firmware.certificate.revoked"
    assert signing.check_signing_certificate(leaf.certificate, root.certificate, now + timedelta(days=20000),
                                             False).rule == "firmware.certificate.validity"
    assert signing.check_signing_certificate(root.certificate, root.certificate, now, False).rule \
        == "firmware.certificate.usage"
    assert signing.is_self_signed_ca(leaf.certificate).rule == "firmware.root.not_ca"
    assert signing.decode_signature("not base64!").rule == "firmware.signature.format"
    assert signing.decode_signature("A" * 801).rule == "firmware.signature.format"
