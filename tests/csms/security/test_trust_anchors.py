"""Trust anchors on stations beyond the conformance cases: what is refused before it leaves
(with its rule), the delete safety rules and their forced override, the rollover delivery to a
station with AdditionalRootCertificateCheck, and the HTTP answers when the station cannot be
reached. Real server, real simulated station on profile 2 (wss + Basic)."""

from __future__ import annotations

import json

import pytest
from certificate_support import with_policy
from cryptography import x509
from ocpp_support import open_csms, tls_csms  # noqa: F401 - fixture
from pki_fixtures import make_root, make_sub_ca
from trust_anchor_support import (
    CSMS_ROOT,
    MANUFACTURER_ROOT,
    audit,
    booted,
    candidate_root,
    csms_root,
    delete_fresh,
    delete_row,
    install,
    inventory,
    pem,
    refresh,
    requests,
)

from pki.hashdata import certificate_hash_data
from pki.rollover import activate_generation, stage_next_generation
from storage.db import session_scope


def _not_self_signed() -> x509.Certificate:
    return make_sub_ca(make_root("ec", serial=0xB2), "ec", serial=0xB3).certificate


BAD_ROOTS = {
    "root.not_self_signed": lambda: pem(_not_self_signed()),
    "root.not_ca": lambda: pem(candidate_root(ca=False)),
    "root.no_keycertsign": lambda: pem(candidate_root(key_cert_sign=False)),
    "root.expired": lambda: pem(candidate_root(days=(-400, -1))),
    "root.size": lambda: pem(candidate_root(padding=4500)),
    "root.format": lambda: "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
}


@pytest.mark.parametrize("rule", BAD_ROOTS)
async def test_a_bad_root_is_refused_before_it_leaves(tls_csms, rule):
    station_id = f"TA-BAD-{rule.split('.')[1].upper()}"[:48]
    station = await booted(tls_csms, station_id)
    candidate = BAD_ROOTS[rule]()
    if rule == "root.size":
        assert len(candidate) > 5500

    answer = await install(tls_csms, station_id, certificate_type=MANUFACTURER_ROOT, pem=candidate)

    assert answer.status_code == 422, answer.text
    assert answer.json()["rule"] == rule and answer.json()["error"]
    assert requests(station, "InstallCertificate") == []
    (refused,) = audit(tls_csms, "station.certificate.install", station_id)
    assert refused.outcome == "refused" and json.loads(refused.detail)["rule"] == rule


async def test_an_uploaded_root_meets_the_configured_key_policy_not_only_the_defaults(sqlite_pki):
    async for csms in open_csms(with_policy(sqlite_pki, keys={"rsa_min_bits": 3072}), tls=True):
        station = await booted(csms, "TA-KEYS")
        answer = await install(csms, "TA-KEYS", certificate_type=MANUFACTURER_ROOT,
                               pem=pem(make_root("rsa", serial=0xB4).certificate))
        assert answer.status_code == 422 and answer.json()["rule"] == "root.key.rsa_size", answer.text
        assert "3072" in answer.json()["error"] and requests(station, "InstallCertificate") == []


async def test_text_that_is_not_pem_is_refused(tls_csms):
    station = await booted(tls_csms, "TA-NOT-PEM")
    answer = await install(tls_csms, "TA-NOT-PEM", certificate_type=CSMS_ROOT, pem="just some text")
    assert answer.status_code == 422 and answer.json()["rule"] == "root.format"
    assert "PEM" in answer.json()["error"] and requests(station, "InstallCertificate") == []


async def test_install_needs_exactly_one_source_and_an_officer(tls_csms):
    await booted(tls_csms, "TA-ARGS")
    neither = await install(tls_csms, "TA-ARGS", certificate_type=CSMS_ROOT)
    assert neither.status_code == 422 and "exactly one" in neither.json()["error"]
    not_installable = await install(tls_csms, "TA-ARGS", certificate_type="V2GCertificateChain", source="csms-root")
    assert not_installable.status_code == 422 and not_installable.json()["field"] == "body.certificate_type"
    wrong_type = await install(tls_csms, "TA-ARGS", certificate_type=MANUFACTURER_ROOT, source="csms-root")
    assert wrong_type.status_code == 422 and wrong_type.json()["rule"] == "root.source"
    operator = await install(tls_csms, "TA-ARGS", role="operator", certificate_type=CSMS_ROOT, source="csms-root")
    assert operator.status_code == 403 and operator.json()["required_roles"] == ["officer"]


async def _station_with_roots(csms, station_id: str, *roots: x509.Certificate):
    station = await booted(csms, station_id)
    for root in roots:
        station.certificates.add(CSMS_ROOT, root)
    assert (await refresh(csms, station_id)).status_code == 200
    rows = (await inventory(csms, station_id))["certificates"]
    return station, {row["serial_number"]: row["id"] for row in rows}


async def test_the_last_csms_root_is_not_deleted_unless_forced(tls_csms):
    foreign = make_root("ec", serial=0xF1).certificate
    station, rows = await _station_with_roots(tls_csms, "TA-LAST", foreign)

    refused = await delete_row(tls_csms, "TA-LAST", rows["f1"])

    assert refused.status_code == 422 and refused.json()["rule"] == "delete.last_csms_root"
    assert requests(station, "DeleteCertificate") == []


async def test_the_served_anchor_is_deleted_only_by_force_with_a_reason(tls_csms):
    ours = csms_root(tls_csms)
    foreign = make_root("ec", serial=0xF2).certificate
    station, rows = await _station_with_roots(tls_csms, "TA-SERVED", ours, foreign)
    our_row = rows[format(ours.serial_number, "x")]

    refused = await delete_row(tls_csms, "TA-SERVED", our_row)
    assert refused.status_code == 422 and refused.json()["rule"] == "delete.served_anchor"
    no_reason = await delete_row(tls_csms, "TA-SERVED", our_row, force="true")
    assert no_reason.status_code == 422 and no_reason.json()["rule"] == "delete.force_reason"
    assert requests(station, "DeleteCertificate") == []

    forced = await delete_row(tls_csms, "TA-SERVED", our_row, force="true", reason="root compromised, ticket 42")

    assert forced.status_code == 200, forced.text
    assert forced.json()["status"] == "Accepted" and forced.json()["forced"] is True
    assert [c["serial_number"] for c in forced.json()["inventory"]["certificates"]] == ["f2"]
    entries = audit(tls_csms, "station.certificate.delete", "TA-SERVED")
    assert [e.outcome for e in entries] == ["refused", "refused", "success"]
    assert json.loads(entries[0].detail)["rule"] == "delete.served_anchor"
    assert json.loads(entries[-1].detail)["reason"] == "root compromised, ticket 42"


async def test_a_foreign_root_goes_without_force_while_ours_stays(tls_csms):
    foreign = make_root("ec", serial=0xF3).certificate
    station, rows = await _station_with_roots(tls_csms, "TA-FOREIGN", csms_root(tls_csms), foreign)
    answer = await delete_row(tls_csms, "TA-FOREIGN", rows["f3"])
    assert answer.status_code == 200 and answer.json()["forced"] is False
    assert station.certificates.certificates(CSMS_ROOT) == [csms_root(tls_csms)]


async def test_one_request_delete_resolves_our_ca_id_through_a_fresh_inventory(tls_csms):
    foreign = make_root("ec", serial=0xF4).certificate
    station = await booted(tls_csms, "TA-BY-CA", hash_algorithm="SHA512")
    station.certificates.add(CSMS_ROOT, foreign)
    station.certificates.add(CSMS_ROOT, csms_root(tls_csms))
    ambiguous = await delete_fresh(tls_csms, "TA-BY-CA", certificate_type=CSMS_ROOT)
    assert ambiguous.status_code == 422 and ambiguous.json()["rule"] == "delete.ambiguous"
    authorities = (await tls_csms.rest.get("/api/v1/ca", headers=tls_csms.headers())).json()
    root_id = next(a["id"] for a in authorities if a["role"] == "root")

    answer = await delete_fresh(tls_csms, "TA-BY-CA", certificate_type=CSMS_ROOT, ca_id=root_id, force=True,
                                reason="moving the station to another CSMS")

    assert answer.status_code == 200, answer.text
    assert answer.json()["certificate_hash_data"]["serialNumber"] == format(csms_root(tls_csms).serial_number, "x")
    assert station.certificates.certificates(CSMS_ROOT) == [foreign]


async def test_a_station_with_additional_root_check_gets_the_cross_signed_new_root(tls_csms):
    g1 = csms_root(tls_csms)
    station = await booted(tls_csms, "TA-ARCC", additional_root_check=True)
    station.certificates.add(CSMS_ROOT, g1)
    ctx = tls_csms.ctx
    with session_scope(ctx.engine) as session:
        g2 = stage_next_generation(session, ctx.keystore, policy=ctx.policy, urls=ctx.urls).root.certificate
    with session_scope(ctx.engine) as session:
        activate_generation(session, 2)

    self_signed = await install(tls_csms, "TA-ARCC", certificate_type=CSMS_ROOT, pem=pem(g2))
    assert self_signed.status_code == 422 and self_signed.json()["rule"] == "root.not_signed_by_current"

    answer = await install(tls_csms, "TA-ARCC", certificate_type=CSMS_ROOT, source="csms-root")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "Accepted" and answer.json()["additional_root_check"] is True
    assert answer.json()["certificate"]["cross_signed"] is True
    sent = x509.load_pem_x509_certificate(requests(station, "InstallCertificate")[-1]["certificate"].encode())
    assert sent.subject == g2.subject and sent.public_key() == g2.public_key()
    assert sent.issuer == g1.subject
    sent.verify_directly_issued_by(g1)
    held = {(c["csms_generation"], c["cross_signed"]) for c in answer.json()["inventory"]["certificates"]}
    assert held == {(1, False), (2, True)}  # the old root stays as the station's fallback

    again = await install(tls_csms, "TA-ARCC", certificate_type=CSMS_ROOT, source="csms-root")
    assert again.status_code == 422 and again.json()["rule"] == "root.already_installed"


async def test_a_station_with_additional_root_check_and_a_foreign_root_is_refused(tls_csms):
    station = await booted(tls_csms, "TA-ARCC-FOREIGN", additional_root_check=True)
    station.certificates.add(CSMS_ROOT, make_root("ec", serial=0xF5).certificate)
    answer = await install(tls_csms, "TA-ARCC-FOREIGN", certificate_type=CSMS_ROOT, source="csms-root")
    assert answer.status_code == 422 and answer.json()["rule"] == "root.current_unknown"
    assert requests(station, "InstallCertificate") == []


def _reported(certificate_type: str, certificate: x509.Certificate, issuer: x509.Certificate | None = None,
              children: tuple[tuple[x509.Certificate, x509.Certificate], ...] = ()) -> dict:
    entry = {"certificateType": certificate_type,
             "certificateHashData": certificate_hash_data(certificate, issuer or certificate).to_ocpp()}
    if children:
        entry["childCertificateHashData"] = [certificate_hash_data(c, i).to_ocpp() for c, i in children]
    return entry


def _reports(station, *chain: dict) -> None:
    """The station answers every GetInstalledCertificateIds with ``chain``, whatever it holds."""
    station.handlers["GetInstalledCertificateIds"] = lambda _station, _payload: {
        "status": "Accepted", "certificateHashDataChain": list(chain)}


async def test_a_certificate_reported_twice_is_one_entry_that_can_be_deleted(tls_csms):
    station = await booted(tls_csms, "TA-TWICE")
    twice, other = make_root("ec", serial=0xE1).certificate, make_root("ec", serial=0xE2).certificate
    _reports(station, _reported(CSMS_ROOT, twice), _reported(CSMS_ROOT, twice), _reported(CSMS_ROOT, other))

    listed = (await refresh(tls_csms, "TA-TWICE")).json()["inventory"]["certificates"]
    assert [c["serial_number"] for c in listed] == ["e1", "e2"]

    answer = await delete_fresh(tls_csms, "TA-TWICE", certificate_type=CSMS_ROOT, serial_number="e1")
    assert answer.status_code == 200, answer.text
    assert requests(station, "DeleteCertificate")[-1]["certificateHashData"]["serialNumber"] == "e1"


async def test_a_sub_ca_reported_under_the_only_csms_root_does_not_make_it_deletable(tls_csms):
    station = await booted(tls_csms, "TA-CHILD")
    foreign = make_root("ec", serial=0xE3)
    sub_ca = make_sub_ca(foreign, "ec", serial=0xE4).certificate
    _reports(station, _reported(CSMS_ROOT, foreign.certificate, children=((sub_ca, foreign.certificate),)))
    listed = (await refresh(tls_csms, "TA-CHILD")).json()["inventory"]["certificates"]
    root_row = next(c["id"] for c in listed if c["parent_id"] is None)

    refused = await delete_row(tls_csms, "TA-CHILD", root_row)

    assert refused.status_code == 422 and refused.json()["rule"] == "delete.last_csms_root", refused.text
    assert requests(station, "DeleteCertificate") == []


async def test_inventory_entries_keep_their_ids_across_refreshes(tls_csms):
    station = await booted(tls_csms, "TA-IDS", hash_algorithm="SHA384")
    station.certificates.add(MANUFACTURER_ROOT, make_root("ec", serial=0xA1).certificate)
    first = (await refresh(tls_csms, "TA-IDS")).json()["inventory"]["certificates"]
    station.certificates.add(MANUFACTURER_ROOT, make_root("ec", serial=0xA2).certificate)
    second = (await refresh(tls_csms, "TA-IDS")).json()["inventory"]["certificates"]
    assert second[0]["id"] == first[0]["id"] and [c["serial_number"] for c in second] == ["a1", "a2"]


async def test_unknown_disconnected_and_failing_stations(tls_csms):
    tls_csms.add_station("TA-AWAY", profile=2)
    away = await install(tls_csms, "TA-AWAY", certificate_type=CSMS_ROOT, source="csms-root")
    assert away.status_code == 409 and away.json()["rule"] == "station.not_connected"
    assert (await refresh(tls_csms, "TA-AWAY")).status_code == 409
    assert (await install(tls_csms, "NOBODY", certificate_type=CSMS_ROOT, source="csms-root")).status_code == 404
    assert (await tls_csms.rest.get("/api/v1/stations/NOBODY/installed-certificates",
                                    headers=tls_csms.headers())).status_code == 404

    station = await booted(tls_csms, "TA-BROKEN")
    assert (await delete_row(tls_csms, "TA-BROKEN", 999999)).status_code == 404

    def broken(_station, _payload):
        raise RuntimeError("certificate store unavailable")

    station.handlers["InstallCertificate"] = broken
    answer = await install(tls_csms, "TA-BROKEN", certificate_type=MANUFACTURER_ROOT,
                           pem=pem(make_root("ec", serial=0xC1).certificate))
    assert answer.status_code == 502 and answer.json()["error_code"] == "InternalError"
    assert answer.json()["sent"] is True


async def test_an_auditor_reads_the_inventory_an_operator_refreshes_it(tls_csms):
    station = await booted(tls_csms, "TA-ROLES")
    station.certificates.add(MANUFACTURER_ROOT, make_root("ec", serial=0xD1).certificate)
    never = await inventory(tls_csms, "TA-ROLES")
    assert never == {"station_id": "TA-ROLES", "refreshed_at": None, "certificates": [], "capacity": None}
    assert (await refresh(tls_csms, "TA-ROLES", role="auditor")).status_code == 403
    assert (await refresh(tls_csms, "TA-ROLES", role="operator")).status_code == 200
    assert [c["serial_number"] for c in (await inventory(tls_csms, "TA-ROLES"))["certificates"]] == ["d1"]
