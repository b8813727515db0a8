"""Signing station CSRs over REST, looking certificates up, revoking them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID
from csr_factory import make_csr, new_key
from rest_support import api, sqlite_api  # noqa: F401 - fixtures

from storage.audit import Outcome

ORG = "Test CSO"


def _value(name: x509.Name, oid) -> list[str]:
    return [a.value for a in name.get_attributes_for_oid(oid)]


def test_signing_a_csr_returns_the_chain_to_the_station_ca(api):
    api.register_station("CS-0100")
    csr_pem, key = make_csr("CS-0100", ORG)
    answer = api.sign("CS-0100", csr_pem)
    assert answer.status_code == 201, answer.text
    issued = answer.json()

    leaf, sub_ca, *rest = x509.load_pem_x509_certificates(issued["chain_pem"].encode())
    station_ca = api.pki.hierarchy.station_ca.certificate
    assert rest == [] and sub_ca == station_ca  # no root in the chain
    leaf.verify_directly_issued_by(station_ca)
    assert _value(leaf.subject, NameOID.COMMON_NAME) == ["CS-0100"]
    assert _value(leaf.subject, NameOID.ORGANIZATION_NAME) == [ORG]
    assert leaf.public_key() == key.public_key()
    assert format(leaf.serial_number, "x") == issued["serial"]
    assert issued["certificate_pem"] in issued["chain_pem"] and issued["station_id"] == "CS-0100"

    [entry] = api.audit("certificate.sign", "CS-0100")
    assert (entry.actor, entry.outcome) == (api.actor("operator"), Outcome.SUCCESS)
    assert json.loads(entry.detail)["serial"] == issued["serial"]


def test_csr_extension_requests_are_listed_and_ignored(sqlite_api):
    sqlite_api.register_station("CS-0101")
    answer = sqlite_api.sign("CS-0101", make_csr("CS-0101", ORG, ca=True)[0])
    assert answer.status_code == 201
    assert set(answer.json()["ignored_csr_extensions"]) == {"basicConstraints", "keyUsage"}
    leaf = x509.load_pem_x509_certificate(answer.json()["certificate_pem"].encode())
    assert leaf.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca is False


def _sha1_csr(directory: Path) -> str:
    # cryptography no longer signs with SHA-1; old station firmware does, through OpenSSL.
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha1", "-subj",
                    f"/O={ORG}/CN=CS-0102", "-keyout", str(directory / "k.pem"), "-out", str(directory / "r.csr")],
                   check=True, capture_output=True)
    return (directory / "r.csr").read_text()


REFUSALS = {
    "csr.subject.cn": lambda _: make_csr("SOMEONE-ELSE", ORG)[0],
    "csr.subject.o": lambda _: make_csr("CS-0102", "Other CSO")[0],
    "csr.format": lambda _: "-----BEGIN CERTIFICATE REQUEST-----\nbm9wZQ==\n-----END CERTIFICATE REQUEST-----\n",
    "csr.size": lambda _: make_csr("CS-0102", ORG)[0] + "x" * 6000,
    "csr.key.rsa_size": lambda _: make_csr("CS-0102", ORG, new_key("rsa-1024"))[0],
    "csr.key.ec_curve": lambda _: make_csr("CS-0102", ORG, new_key("ec-p521"))[0],
    "csr.signature_hash": _sha1_csr,
}


@pytest.mark.parametrize("rule", sorted(REFUSALS))
def test_each_refusal_is_422_with_its_rule_and_audited(sqlite_api, rule, tmp_path):
    sqlite_api.register_station("CS-0102")
    answer = sqlite_api.sign("CS-0102", REFUSALS[rule](tmp_path))
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert (error["rule"], error["field"]) == (rule, "csr") and error["error"]
    [entry] = sqlite_api.audit("certificate.sign", "CS-0102")
    assert entry.outcome == Outcome.REFUSED and json.loads(entry.detail)["rule"] == rule
    listed = sqlite_api.client.get("/api/v1/certificates?station_id=CS-0102", headers=sqlite_api.headers("auditor"))
    assert listed.json() == []


def test_a_renewal_must_bring_a_fresh_key(api):
    api.register_station("CS-0103")
    csr_pem, key = make_csr("CS-0103", ORG)
    assert api.sign("CS-0103", csr_pem).status_code == 201
    again = api.sign("CS-0103", make_csr("CS-0103", ORG, key)[0])
    assert again.status_code == 422 and again.json()["rule"] == "csr.key_reuse"
    assert [e.outcome for e in api.audit("certificate.sign", "CS-0103")] == [Outcome.SUCCESS, Outcome.REFUSED]


def test_unknown_station_is_404_and_audited(sqlite_api):
    answer = sqlite_api.sign("CS-GHOST", make_csr("CS-GHOST", ORG)[0])
    assert answer.status_code == 404 and "CS-GHOST" in answer.json()["error"]
    [entry] = sqlite_api.audit("certificate.sign", "CS-GHOST")
    assert entry.outcome == Outcome.REFUSED


def test_oversized_csr_bodies_are_413_and_nothing_happens(sqlite_api):
    sqlite_api.register_station("CS-0104")
    body = json.dumps({"csr": "A" * (70 * 1024)}).encode()
    headers = {**sqlite_api.headers("operator"), "Content-Type": "application/json"}
    declared = sqlite_api.client.post("/api/v1/stations/CS-0104/certificates", content=body, headers=headers)
    chunked = sqlite_api.client.post("/api/v1/stations/CS-0104/certificates", headers=headers,
                                     content=(body[i:i + 4096] for i in range(0, len(body), 4096)))
    for answer in (declared, chunked):
        assert answer.status_code == 413
        assert answer.json() == {"error": "request body larger than 65536 bytes"}
    assert sqlite_api.audit("certificate.sign", "CS-0104") == []


def _issue(api, station_id: str) -> dict:
    api.register_station(station_id)
    answer = api.sign(station_id, make_csr(station_id, ORG)[0])
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_lookup_and_filters(sqlite_api):
    first = _issue(sqlite_api, "CS-0110")
    second = _issue(sqlite_api, "CS-0111")
    headers = sqlite_api.headers("auditor")

    by_station = sqlite_api.client.get("/api/v1/certificates?station_id=CS-0110", headers=headers).json()
    assert [c["serial"] for c in by_station] == [first["serial"]]
    stations = sqlite_api.client.get("/api/v1/certificates?kind=station&status=issued", headers=headers).json()
    assert [c["serial"] for c in stations] == [second["serial"], first["serial"]]
    roots = sqlite_api.client.get("/api/v1/certificates?kind=root", headers=headers).json()
    assert len(roots) == 1 and roots[0]["status"] == "active"
    bad = sqlite_api.client.get("/api/v1/certificates?kind=nonsense", headers=headers)
    assert bad.status_code == 422 and bad.json()["field"] == "query.kind"

    detail = sqlite_api.client.get(f"/api/v1/certificates/{first['serial'].upper()}", headers=headers).json()
    assert detail["serial"] == first["serial"] and detail["certificate_pem"] == first["certificate_pem"]
    assert detail["subject"] == f"CN=CS-0110,O={ORG}" and "Charging Station CA" in detail["issuer"]
    assert detail["status"] == "issued" and detail["revocation"] is None
    assert detail["not_after"].startswith(first["not_after"][:19])


@pytest.mark.parametrize(("serial", "status"), [("abcdef", 404), ("not-hex", 422)])
def test_unknown_or_malformed_serials(sqlite_api, serial, status):
    answer = sqlite_api.client.get(f"/api/v1/certificates/{serial}", headers=sqlite_api.headers("auditor"))
    assert answer.status_code == status and answer.json()["error"]


def _revoke(api, serial: str, reason: str, role: str = "officer"):
    return api.client.post(f"/api/v1/certificates/{serial}/revoke", json={"reason": reason},
                           headers=api.headers(role))


def test_revocation_and_its_refusals_are_audited(api):
    serial = _issue(api, "CS-0120")["serial"]

    unknown_reason = _revoke(api, serial, "becauseISaidSo")
    assert unknown_reason.status_code == 422
    error = unknown_reason.json()
    assert error["field"] == "reason" and "keyCompromise" in error["valid_reasons"]
    assert "removeFromCRL" not in error["valid_reasons"]

    revoked = _revoke(api, serial, "keyCompromise")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revocation"]["reason"] == "keyCompromise"
    shown = api.client.get(f"/api/v1/certificates/{serial}", headers=api.headers("auditor")).json()
    assert shown["revocation"]["reason"] == "keyCompromise"

    again = _revoke(api, serial, "superseded")
    assert again.status_code == 409 and "already revoked" in again.json()["error"]

    outcomes = [(e.actor, e.outcome) for e in api.audit("certificate.revoke", serial)]
    officer = api.actor("officer")
    assert outcomes == [(officer, Outcome.REFUSED), (officer, Outcome.SUCCESS), (officer, Outcome.REFUSED)]


def test_revoking_an_unknown_serial_is_404(sqlite_api):
    answer = _revoke(sqlite_api, "abcdef0123", "superseded")
    assert answer.status_code == 404
    [entry] = sqlite_api.audit("certificate.revoke", "abcdef0123")
    assert entry.outcome == Outcome.REFUSED


def test_remove_from_crl_is_not_a_revocation_reason(sqlite_api):
    serial = _issue(sqlite_api, "CS-0121")["serial"]
    answer = _revoke(sqlite_api, serial, "removeFromCRL")
    assert answer.status_code == 422 and "removeFromCRL" in answer.json()["error"]
    # The CRL must stay buildable.
    station_ca = sqlite_api.pki.hierarchy.station_ca.id
    assert sqlite_api.client.get(f"/crl/{station_ca}.crl").status_code == 200


def test_operators_cannot_revoke(sqlite_api):
    serial = _issue(sqlite_api, "CS-0122")["serial"]
    assert _revoke(sqlite_api, serial, "keyCompromise", role="operator").status_code == 403
    shown = sqlite_api.client.get(f"/api/v1/certificates/{serial}", headers=sqlite_api.headers("operator"))
    assert shown.json()["status"] == "issued"
