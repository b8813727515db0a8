"""V2GCertificate signing: a separate ISO 15118 sub-CA set up on demand, the SECC leaf profile,
and clear refusals without it or for keys an EV would reject."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from datetime import timedelta

import pytest
from chargeca_process import chargeca
from conftest import TEST_ORG
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID
from csr_factory import make_csr, new_key
from pki_fixtures import openssl
from rest_support import sqlite_api  # noqa: F401 - fixture
from sqlmodel import select

from pki.issuance import CsrRefused, UnknownStation, sign_station_csr
from pki.lint import errors, lint_certificate
from pki.v2g import V2gNotConfigured, ensure_v2g_ca, sign_v2g_csr, v2g_authority
from storage.certificates import CaRole, CertificateAuthority, CertKind, CertStatus, IssuedCertificate
from storage.db import session_scope
from storage.stations import Station

SECC_ID = "DE*CSO*E0001*1"


def _add_station(pki, station_id: str = "CP-V2G") -> str:
    with session_scope(pki.ctx.engine) as session:
        session.add(Station(id=station_id, security_profile=3))
    return station_id


def _ensure(pki, policy=None):
    with session_scope(pki.ctx.engine) as session:
        return ensure_v2g_ca(session, pki.ctx.keystore, policy=policy or pki.ctx.policy, urls=pki.ctx.urls)


def _sign(pki, station_id: str, csr_pem: str, **kwargs):
    with session_scope(pki.ctx.engine) as session:
        return sign_v2g_csr(session, pki.ctx.keystore, station_id=station_id, csr_pem=csr_pem,
                            policy=pki.ctx.policy, urls=pki.ctx.urls, **kwargs)


def _refusal(pki, station_id: str, csr_pem: str, **kwargs) -> str:
    with pytest.raises(CsrRefused) as refused:
        _sign(pki, station_id, csr_pem, **kwargs)
    return refused.value.decision.rule


def test_without_a_v2g_ca_the_request_is_refused_with_a_reason(sqlite_pki):
    station = _add_station(sqlite_pki)
    with pytest.raises(V2gNotConfigured) as refused:
        _sign(sqlite_pki, station, make_csr(station)[0])
    assert refused.value.rule == "v2g.not_configured"
    assert "no V2G (ISO 15118) sub-CA" in str(refused.value)
    with session_scope(sqlite_pki.ctx.engine) as session:
        assert session.exec(select(IssuedCertificate).where(IssuedCertificate.kind == CertKind.V2G)).first() is None


def test_the_v2g_ca_is_created_once_under_the_root_with_a_p256_key(pki):
    # Even when the policy picks RSA for our CAs: ISO 15118-2 allows secp256r1 only.
    rsa_policy = dataclasses.replace(pki.ctx.policy, keys=dataclasses.replace(pki.ctx.policy.keys, ca_key="rsa-3072"))
    first = _ensure(pki, rsa_policy)
    again = _ensure(pki)
    assert again.id == first.id
    assert first.record.parent_id == pki.hierarchy.root.id and first.record.role == CaRole.V2G
    assert first.record.generation == 1 and first.record.active
    key = first.certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert first.certificate.issuer == pki.hierarchy.root.certificate.subject
    with session_scope(pki.ctx.engine) as session:
        assert len(session.exec(select(CertificateAuthority).where(CertificateAuthority.role == CaRole.V2G)).all()) == 1
        assert v2g_authority(session).id == first.id


def test_secc_certificate_has_the_iso15118_profile(pki, tmp_path):
    station = _add_station(pki)
    v2g_ca = _ensure(pki)
    issued = _sign(pki, station, make_csr(SECC_ID)[0], secc_id=SECC_ID)
    leaf = issued.certificate

    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SECC_ID
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == TEST_ORG
    assert leaf.issuer == v2g_ca.certificate.subject
    extensions = {ext.oid: ext for ext in leaf.extensions}
    assert ExtensionOID.EXTENDED_KEY_USAGE not in extensions, "no EKU on an SECC certificate (A00.FR.514)"
    assert ExtensionOID.SUBJECT_ALTERNATIVE_NAME not in extensions
    basic = extensions[ExtensionOID.BASIC_CONSTRAINTS]
    assert basic.critical and basic.value.ca is False
    usage = extensions[ExtensionOID.KEY_USAGE]
    assert usage.critical and usage.value.digital_signature and usage.value.key_agreement
    assert not (usage.value.key_encipherment or usage.value.key_cert_sign or usage.value.crl_sign
                or usage.value.content_commitment or usage.value.data_encipherment)
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    backdate = timedelta(minutes=pki.ctx.policy.validity.backdate_minutes)
    assert lifetime == timedelta(days=pki.ctx.policy.validity.v2g_days) + backdate
    assert errors(lint_certificate(leaf.public_bytes(serialization.Encoding.DER))) == []

    chain = x509.load_pem_x509_certificates(issued.chain_pem.encode())
    assert chain == [leaf, v2g_ca.certificate], "leaf, then the V2G sub-CA; never the root"
    root_file = tmp_path / "root.pem"
    root_file.write_text(pki.hierarchy.root.record.certificate_pem)
    chain_file = tmp_path / "chain.pem"
    chain_file.write_text(issued.chain_pem)
    result = openssl("verify", "-CAfile", root_file, "-untrusted", chain_file, chain_file)
    assert result.returncode == 0, result.stderr + result.stdout

    assert issued.record.kind == CertKind.V2G and issued.record.station_id == station
    assert issued.record.status == CertStatus.ISSUED


def test_cn_defaults_to_the_station_identity(sqlite_pki):
    station = _add_station(sqlite_pki)
    _ensure(sqlite_pki)
    leaf = _sign(sqlite_pki, station, make_csr(station)[0]).certificate
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == station


def test_a_v2g_renewal_supersedes_only_the_previous_v2g_certificate(sqlite_pki):
    station = _add_station(sqlite_pki)
    _ensure(sqlite_pki)
    with session_scope(sqlite_pki.ctx.engine) as session:
        csms = sign_station_csr(session, sqlite_pki.ctx.keystore, station_id=station, csr_pem=make_csr(station)[0],
                                policy=sqlite_pki.ctx.policy, urls=sqlite_pki.ctx.urls)
    first = _sign(sqlite_pki, station, make_csr(station)[0])
    second = _sign(sqlite_pki, station, make_csr(station)[0])
    with session_scope(sqlite_pki.ctx.engine) as session:
        status = {r.id: r.status for r in session.exec(select(IssuedCertificate).where(
            IssuedCertificate.station_id == station))}
    assert status[first.record.id] == CertStatus.SUPERSEDED
    assert status[second.record.id] == CertStatus.ISSUED
    assert status[csms.record.id] == CertStatus.ISSUED, "the CSMS client certificate is untouched"


@pytest.mark.parametrize("key_spec", ["rsa-2048", "ec-p384"])
def test_keys_an_ev_would_reject_are_refused(sqlite_pki, key_spec):
    station = _add_station(sqlite_pki)
    _ensure(sqlite_pki)
    pem, _ = make_csr(station, key=new_key(key_spec))
    assert _refusal(sqlite_pki, station, pem) == "csr.key.iso15118"


def test_the_general_csr_rules_apply(sqlite_pki):
    station = _add_station(sqlite_pki)
    _ensure(sqlite_pki)
    assert _refusal(sqlite_pki, station, make_csr("SOMEONE-ELSE")[0], secc_id=SECC_ID) == "csr.subject.cn"
    assert _refusal(sqlite_pki, station, make_csr(SECC_ID, org="Other CSO")[0], secc_id=SECC_ID) == "csr.subject.o"
    assert _refusal(sqlite_pki, station, "garbage") == "csr.format"
    with pytest.raises(UnknownStation):
        _sign(sqlite_pki, "CP-NOBODY", make_csr("CP-NOBODY")[0])


# --- setting it up: officers, through REST or the CLI, audited ---------------------------------

def test_officer_creates_the_v2g_ca_over_rest_and_it_is_listed(sqlite_api):
    denied = sqlite_api.client.post("/api/v1/ca/v2g", headers=sqlite_api.headers("operator"))
    assert denied.status_code == 403
    assert sqlite_api.audit("api.denied", "POST /api/v1/ca/v2g")

    created = sqlite_api.client.post("/api/v1/ca/v2g", headers=sqlite_api.headers("officer"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["role"] == CaRole.V2G and body["active"] and "V2G CA G1" in body["subject"]
    again = sqlite_api.client.post("/api/v1/ca/v2g", headers=sqlite_api.headers("officer"))
    assert again.status_code == 200 and again.json()["id"] == body["id"], "a second call changes nothing"

    listed = sqlite_api.client.get("/api/v1/ca", headers=sqlite_api.headers("auditor")).json()
    assert [a["id"] for a in listed if a["role"] == CaRole.V2G] == [body["id"]]
    v2g_ca = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    root = next(a for a in listed if a["role"] == CaRole.ROOT)
    assert v2g_ca.issuer.rfc4514_string() == root["subject"]

    entries = sqlite_api.audit("ca.v2g.create")
    assert [(e.actor, e.outcome) for e in entries] == [(sqlite_api.actor("officer"), "success")] * 2
    assert [json.loads(e.detail)["created"] for e in entries] == [True, False]

    station = _add_station(sqlite_api.pki)
    issued = _sign(sqlite_api.pki, station, make_csr(SECC_ID)[0], secc_id=SECC_ID)
    assert issued.certificate.issuer == v2g_ca.subject


@pytest.mark.slow  # runs `chargeca` in a process five times
def test_officer_creates_the_v2g_ca_from_the_cli(tmp_path):
    env = {**os.environ, "CHARGECA_DATA": str(tmp_path / "data"), "CHARGECA_KEY_PASSPHRASE": "cli-test-passphrase-123"}
    env.pop("CHARGECA_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return chargeca(*args, env=env, cwd=tmp_path)

    before_init = run("ca", "v2g", "create")
    assert before_init.returncode == 3 and "not initialised" in before_init.stderr
    assert run("init", "--org", TEST_ORG, "--fqdn", "csms.test").returncode == 0
    created = run("ca", "v2g", "create")
    assert created.returncode == 0, created.stderr
    assert "created" in created.stdout and f"CN={TEST_ORG} V2G CA G1" in created.stdout
    again = run("ca", "v2g", "create")
    assert again.returncode == 0 and "exists already" in again.stdout
    assert created.stdout.split()[2] == again.stdout.split()[2], "the same CA both times"
    audit_lines = [line for line in run("audit", "list").stdout.splitlines() if "\tca.v2g.create\t" in line]
    assert [line.split("\t")[5] for line in audit_lines] == ["failed", "success", "success"]
    assert all("\tcli:" in line for line in audit_lines)
