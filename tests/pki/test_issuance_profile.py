"""Certificates issued from real `openssl req` CSRs carry exactly our profile, verify with
`openssl verify` against the root, and pass pkilint — on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from conftest import both_keystores
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from csr_factory import make_csr, openssl_csr

from api.core.audit import Actor
from api.csms.security.authority_service import sign_csr
from api.operations.stations import add_station
from pki.lint import errors, lint_certificate

ACTOR = Actor("test:officer")
keystore_kind = both_keystores()


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("key_spec", ["rsa-2048", "ec-p256", "ec-p384"])
def test_openssl_csr_is_issued_with_exact_profile(pki, tmp_path, key_spec):
    add_station(pki.ctx, ACTOR, "CP-0001", security_profile=3)
    issued = sign_csr(pki.ctx, ACTOR, "CP-0001", openssl_csr(tmp_path, "CP-0001", "Test CSO", key_spec))

    chain = x509.load_pem_x509_certificates(issued.chain_pem.encode())
    assert len(chain) == 2, "chain is leaf + station sub-CA, never the root"
    leaf, sub_ca = chain
    assert sub_ca.subject == pki.hierarchy.station_ca.certificate.subject

    root_file = _write(tmp_path / "root.pem", pki.hierarchy.root.record.certificate_pem)
    chain_file = _write(tmp_path / "chain.pem", issued.chain_pem)
    result = subprocess.run(["openssl", "verify", "-CAfile", root_file, "-untrusted", chain_file,
                             "-purpose", "sslclient", chain_file], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout

    assert leaf.subject == x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test CSO"),
                                      x509.NameAttribute(NameOID.COMMON_NAME, "CP-0001")])
    extensions = {ext.oid: ext for ext in leaf.extensions}
    assert set(extensions) == {
        ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    }
    basic = extensions[ExtensionOID.BASIC_CONSTRAINTS]
    assert basic.critical and basic.value.ca is False
    usage = extensions[ExtensionOID.KEY_USAGE]
    assert usage.critical and usage.value.digital_signature
    assert not (usage.value.key_cert_sign or usage.value.crl_sign or usage.value.key_encipherment)
    assert list(extensions[ExtensionOID.EXTENDED_KEY_USAGE].value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = extensions[ExtensionOID.AUTHORITY_KEY_IDENTIFIER].value
    assert aki.key_identifier == sub_ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert aki.authority_cert_issuer is None and aki.authority_cert_serial_number is None
    cdp = extensions[ExtensionOID.CRL_DISTRIBUTION_POINTS].value
    assert cdp[0].full_name[0].value == f"http://ca.test:8080/crl/{pki.hierarchy.station_ca.id}.crl"
    aia = extensions[ExtensionOID.AUTHORITY_INFORMATION_ACCESS].value
    assert aia[0].access_location.value == "http://ca.test:8080/ocsp"

    assert leaf.serial_number >= 1 << 64, "at least 64 random bits"
    assert leaf.not_valid_before_utc < issued.record.created_at - timedelta(minutes=4), "notBefore back-dated"
    assert errors(lint_certificate(leaf.public_bytes(serialization.Encoding.DER))) == []


def test_csr_asking_for_ca_gets_a_leaf_and_the_request_is_reported(sqlite_pki):
    add_station(sqlite_pki.ctx, ACTOR, "CP-CA", security_profile=3)
    pem, _ = make_csr("CP-CA", ca=True, extra_names=())
    issued = sign_csr(sqlite_pki.ctx, ACTOR, "CP-CA", pem)
    leaf = issued.certificate
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is False
    assert "basicConstraints" in issued.ignored_extensions and "keyUsage" in issued.ignored_extensions


def test_subject_extras_in_csr_are_not_copied(sqlite_pki):
    add_station(sqlite_pki.ctx, ACTOR, "CP-X", security_profile=3)
    extra = (x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Injected"),
             x509.NameAttribute(NameOID.COUNTRY_NAME, "XX"))
    pem, _ = make_csr("CP-X", org=None, extra_names=extra)
    leaf = sign_csr(sqlite_pki.ctx, ACTOR, "CP-X", pem).certificate
    assert [a.oid for a in leaf.subject] == [NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME]
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Test CSO"


def test_leaf_never_outlives_its_issuer(sqlite_pki, monkeypatch):
    from dataclasses import replace

    ctx = sqlite_pki.ctx
    long_policy = replace(ctx.policy, validity=replace(ctx.policy.validity, station_days=365 * 40))
    object.__setattr__(ctx, "policy", long_policy)
    add_station(ctx, ACTOR, "CP-LONG", security_profile=3)
    leaf = sign_csr(ctx, ACTOR, "CP-LONG", make_csr("CP-LONG")[0]).certificate
    assert leaf.not_valid_after_utc == sqlite_pki.hierarchy.station_ca.certificate.not_valid_after_utc


def test_renewal_supersedes_the_previous_certificate(pki):
    from sqlmodel import select

    from storage.certificates import IssuedCertificate
    from storage.db import session_scope

    add_station(pki.ctx, ACTOR, "CP-R", security_profile=3)
    first = sign_csr(pki.ctx, ACTOR, "CP-R", make_csr("CP-R")[0])
    second = sign_csr(pki.ctx, ACTOR, "CP-R", make_csr("CP-R")[0])
    with session_scope(pki.ctx.engine) as session:
        rows = {r.serial_hex: r for r in session.exec(select(IssuedCertificate).where(
            IssuedCertificate.station_id == "CP-R"))}
    assert rows[first.record.serial_hex].status == "superseded"
    assert rows[first.record.serial_hex].superseded_by == second.record.id
    assert rows[second.record.serial_hex].status == "issued"


def test_every_profile_the_ca_produces_lints_clean(sqlite_pki):
    """Root, both sub-CAs, both server certificates and a station leaf: nothing at ERROR+."""
    from sqlmodel import select

    from storage.certificates import IssuedCertificate
    from storage.db import session_scope

    add_station(sqlite_pki.ctx, ACTOR, "CP-L", security_profile=3)
    sign_csr(sqlite_pki.ctx, ACTOR, "CP-L", make_csr("CP-L", key=None)[0])
    with session_scope(sqlite_pki.ctx.engine) as session:
        rows = session.exec(select(IssuedCertificate)).all()
    kinds = sorted(r.kind for r in rows)
    assert kinds == ["root", "server", "server", "station", "sub_ca", "sub_ca"]
    for row in rows:
        der = x509.load_pem_x509_certificate(row.certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
        assert errors(lint_certificate(der)) == [], row.kind


def test_server_certificates_cover_both_key_families_with_fqdn(sqlite_pki):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    certs = [x509.load_pem_x509_certificate(r.certificate_pem.encode())
             for r in sqlite_pki.hierarchy.server_certificates]
    families = {"ec" if isinstance(c.public_key(), ec.EllipticCurvePublicKey) else
                "rsa" if isinstance(c.public_key(), rsa.RSAPublicKey) else "other" for c in certs}
    assert families == {"ec", "rsa"}
    for cert in certs:
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "csms.test"
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == ["csms.test"]
        assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
            ExtendedKeyUsageOID.SERVER_AUTH]
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.key_encipherment == isinstance(cert.public_key(), rsa.RSAPublicKey)
        if isinstance(cert.public_key(), rsa.RSAPublicKey):
            assert cert.public_key().key_size >= 2048
        assert cert.issuer == sqlite_pki.hierarchy.server_ca.certificate.subject
