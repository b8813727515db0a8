"""Revocation as relying parties see it: the CRL and OCSP answers for certificates we issued,
through storage on SQLite and PostgreSQL, checked with OpenSSL as an independent client."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from conftest import both_keystores
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from csr_factory import make_csr
from softhsm import destroy_key

from api.core.audit import Actor
from api.core.context import open_keystore
from api.csms.security.authority_service import crl_der, revoke_certificate, sign_csr
from api.operations.stations import add_station
from pki import revocation
from pki.keystore import KeyStoreError
from pki.lint import errors, lint_crl, lint_ocsp_response
from pki.revocation import AlreadyRevoked
from storage.db import session_scope
from storage.types import utcnow

ACTOR = Actor("test:officer")
keystore_kind = both_keystores()


def _issue(ctx, station_id: str):
    add_station(ctx, ACTOR, station_id, security_profile=3)
    return sign_csr(ctx, ACTOR, station_id, make_csr(station_id)[0])


def test_crl_lists_revoked_certificates_with_reason_and_lints_clean(pki):
    keep, gone = _issue(pki.ctx, "CP-KEEP"), _issue(pki.ctx, "CP-GONE")
    first = x509.load_der_x509_crl(crl_der(pki.ctx))
    revoke_certificate(pki.ctx, ACTOR, gone.record.serial_hex, "keyCompromise")
    crl = x509.load_der_x509_crl(crl_der(pki.ctx))

    station_ca = pki.hierarchy.station_ca.certificate
    assert crl.issuer == station_ca.subject and crl.is_signature_valid(station_ca.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(gone.certificate.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(keep.certificate.serial_number) is None
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == first.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    assert crl.next_update_utc - crl.last_update_utc == timedelta(hours=24)
    assert errors(lint_crl(crl.public_bytes(serialization.Encoding.DER))) == []


def test_crl_is_reused_until_something_changes(pki):
    first = crl_der(pki.ctx)
    assert crl_der(pki.ctx) == first, "same CRL (same number) while nothing was revoked"


def test_double_revocation_keeps_the_first(pki):
    issued = _issue(pki.ctx, "CP-1")
    revoke_certificate(pki.ctx, ACTOR, issued.record.serial_hex, "keyCompromise")
    with pytest.raises(AlreadyRevoked):
        revoke_certificate(pki.ctx, ACTOR, issued.record.serial_hex, "superseded")
    crl = x509.load_der_x509_crl(crl_der(pki.ctx))
    entry = crl.get_revoked_certificate_by_serial_number(issued.certificate.serial_number)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise


def test_root_cannot_be_revoked(pki):
    root_serial = format(pki.hierarchy.root.certificate.serial_number, "x")
    with pytest.raises(revocation.RevocationError, match="root"):
        revoke_certificate(pki.ctx, ACTOR, root_serial, "keyCompromise")


def _ocsp_request(cert, issuer) -> bytes:
    return (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
            .build().public_bytes(serialization.Encoding.DER))


def test_ocsp_answers_good_revoked_unknown(pki, tmp_path):
    good, bad = _issue(pki.ctx, "CP-G"), _issue(pki.ctx, "CP-B")
    revoke_certificate(pki.ctx, ACTOR, bad.record.serial_hex, "cessationOfOperation")
    issuer = pki.hierarchy.station_ca.certificate
    (tmp_path / "issuer.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "root.pem").write_text(pki.hierarchy.root.record.certificate_pem)

    def ask(cert, name):
        with session_scope(pki.ctx.engine) as session:
            der = revocation.ocsp_response(session, pki.ctx.keystore, _ocsp_request(cert, issuer), pki.ctx.policy)
        assert errors(lint_ocsp_response(der)) == []
        (tmp_path / f"{name}.der").write_bytes(der)
        (tmp_path / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        # OpenSSL as the relying party: verify the signature against the issuer and read the status.
        out = subprocess.run(["openssl", "ocsp", "-respin", str(tmp_path / f"{name}.der"),
                              "-issuer", str(tmp_path / "issuer.pem"), "-cert", str(tmp_path / f"{name}.pem"),
                              "-VAfile", str(tmp_path / "issuer.pem"), "-no_nonce"],
                             capture_output=True, text=True)
        assert "Response verify OK" in out.stderr + out.stdout, out.stderr
        return out.stdout

    assert "good.pem: good" in ask(good.certificate, "good")
    revoked = ask(bad.certificate, "bad")
    assert "bad.pem: revoked" in revoked and "Reason: cessationOfOperation" in revoked

    # A certificate we never issued, made to look like one of the station CA's.
    stranger = (x509.CertificateBuilder().subject_name(good.certificate.subject).issuer_name(issuer.subject)
                .public_key(good.certificate.public_key()).serial_number(12345)
                .not_valid_before(utcnow()).not_valid_after(utcnow() + timedelta(days=1))
                .sign(make_csr("X")[1], hashes.SHA256()))
    with session_scope(pki.ctx.engine) as session:
        der = revocation.ocsp_response(session, pki.ctx.keystore, _ocsp_request(stranger, issuer), pki.ctx.policy)
    response = ocsp.load_der_ocsp_response(der)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def test_a_ca_whose_key_is_gone_stops_only_its_own_ocsp_answers(pki):
    # What the README's rollover ends with: the retired generation's key files destroyed, its
    # (unexpired) CAs still on record. Every OCSP request loaded every CA's key and failed.
    leaf = _issue(pki.ctx, "CP-K").certificate
    root, station_ca = pki.hierarchy.root, pki.hierarchy.station_ca
    if pki.ctx.settings.pkcs11 is not None:
        destroy_key(pki.ctx.settings.pkcs11, root.record.key_label)
    else:
        (pki.ctx.settings.keys_dir / f"{root.record.key_label}.key.pem").unlink()
    keystore = open_keystore(pki.ctx.settings)   # a process that has not loaded the root key yet

    with session_scope(pki.ctx.engine) as session:
        der = revocation.ocsp_response(session, keystore, _ocsp_request(leaf, station_ca.certificate), pki.ctx.policy)
        assert ocsp.load_der_ocsp_response(der).certificate_status == ocsp.OCSPCertStatus.GOOD
        with pytest.raises(KeyStoreError, match=root.record.key_label):
            revocation.ocsp_response(session, keystore, _ocsp_request(station_ca.certificate, root.certificate),
                                     pki.ctx.policy)
