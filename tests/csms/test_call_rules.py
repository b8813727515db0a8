"""The generic call (POST /api/v1/stations/{id}/calls) gives every CSMS action a role and the same
rule checks as the dedicated routes: an operator cannot send what only officers may, and an
officer cannot skip the trust-anchor, chain and profile rules by taking the generic door.
Real server, real simulated station on profile 2 (wss + Basic)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from cryptography import x509
from ocpp_support import tls_csms  # noqa: F401 - fixture
from ocpp_transport_helpers import issue_client_certificate
from pki_fixtures import make_root, make_sub_ca
from sqlmodel import select
from trust_anchor_support import (
    CSMS_ROOT,
    MANUFACTURER_ROOT,
    booted,
    candidate_root,
    csms_root,
    inventory,
    pem,
    refresh,
    requests,
)

from api.core.audit import Actor, run_in_session
from api.csms.call_rules import DEDICATED, OFFICER, OPERATOR, ROUTED, call_rule, check_organization, check_reset
from api.csms.security.authority_service import revoke_certificate
from pki.hashdata import certificate_hash_data
from storage.audit import AuditEntry

FIRMWARE = {"requestId": 1, "firmware": {"location": "https://fw.test/1.bin",
                                         "retrieveDateTime": "2030-01-01T00:00:00Z"}}
NETWORK = {"configurationSlot": 2, "connectionData": {
    "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "ws://evil.test/ocpp", "messageTimeout": 30,
    "securityProfile": 1, "ocppInterface": "Wired0"}}


def _set(component: str, variable: str, value: str = "x") -> dict:
    return {"setVariableData": [{"component": {"name": component}, "variable": {"name": variable},
                                 "attributeValue": value}]}


def _hash_data(certificate: x509.Certificate) -> dict:
    return certificate_hash_data(certificate, certificate).to_ocpp()


def _call_audit(csms, station_id: str) -> list[AuditEntry]:
    query = (select(AuditEntry).where(AuditEntry.action == "station.call", AuditEntry.target == station_id)
             .order_by(AuditEntry.seq))
    return run_in_session(csms.ctx, lambda s: list(s.exec(query)))


def _foreign_chain() -> str:
    root = make_root("ec", serial=0xC1)
    sub = make_sub_ca(root, "ec", serial=0xC2)
    leaf = make_sub_ca(sub, "ec", serial=0xC3)  # any certificate not ours will do as the leaf
    return pem(leaf.certificate) + pem(sub.certificate)


def _our_chain(csms, station_id: str, directory) -> str:
    chain, _key, _serial = issue_client_certificate(SimpleNamespace(ctx=csms.ctx), station_id, directory)
    return chain.read_text()


def test_the_table_names_every_security_relevant_action_officer_only():
    assert call_rule("InstallCertificate", {}).role == OFFICER and call_rule("InstallCertificate", {}).door == ROUTED
    assert call_rule("Reset", {"type": "Immediate"}).role == OFFICER
    assert call_rule("Reset", {"type": "Immediate", "evseId": 1}).role == OPERATOR
    assert check_reset({"type": "OnIdle", "evseId": 1}) and check_reset({"type": "OnIdle"})
    assert check_reset({"type": "OnIdle", "evseId": 0}).rule == "call.reset.evse"
    assert call_rule("SetVariables", _set("OCPPCommCtrlr", "NetworkConfigurationPriority")).door == DEDICATED
    mixed = {"setVariableData": [*_set("SecurityCtrlr", "OrganizationName")["setVariableData"],
                                 *_set("SecurityCtrlr", "BasicAuthPassword")["setVariableData"]]}
    assert (call_rule("SetVariables", mixed).role, call_rule("SetVariables", mixed).door) == (OFFICER, DEDICATED)
    assert call_rule("TriggerMessage", {"requestedMessage": "Heartbeat"}).role == OPERATOR
    # Names in another case are the same variables to a station: the same rules hold.
    assert call_rule("SetVariables", _set("securityctrlr", "BASICAUTHPASSWORD")).door == DEDICATED
    assert call_rule("SetVariables", _set("ocppcommctrlr", "networkconfigurationpriority")).role == OFFICER
    assert call_rule("SetVariables", _set("SECURITYCTRLR", "Identity")).role == OFFICER
    assert check_organization(_set("securityctrlr", "organizationname", "Rogue CSO"), "Test CSO").rule \
        == "call.organization"


async def test_an_operator_gets_403_for_every_security_relevant_action(tls_csms, tmp_path):
    station = await booted(tls_csms, "CR-OPERATOR")
    root = csms_root(tls_csms)
    attempts = {
        "InstallCertificate": {"certificateType": CSMS_ROOT, "certificate": pem(root)},
        "DeleteCertificate": {"certificateHashData": _hash_data(root)},
        "CertificateSigned": {"certificateChain": _our_chain(tls_csms, "CR-OPERATOR", tmp_path),
                              "certificateType": "ChargingStationCertificate"},
        "SetNetworkProfile": NETWORK,
        "UpdateFirmware": FIRMWARE,
        "Reset": {"type": "OnIdle"},
        "SetVariables": _set("SecurityCtrlr", "OrganizationName", "Test CSO"),
    }
    for action, payload in attempts.items():
        for mode in ("sync", "async"):
            answer = await tls_csms.post_call("CR-OPERATOR", action, payload, mode=mode)
            assert answer.status_code == 403, (action, mode, answer.text)
            assert answer.json()["rule"] == "call.role" and answer.json()["required_roles"] == ["officer"]
    priority = await tls_csms.post_call("CR-OPERATOR", "SetVariables",
                                        _set("OCPPCommCtrlr", "NetworkConfigurationPriority", "1"))
    assert priority.status_code == 403

    assert [a for a, _ in station.received if a in attempts] == [], "nothing reached the station"
    refused = [json.loads(e.detail) for e in _call_audit(tls_csms, "CR-OPERATOR")]
    assert len(refused) == 2 * len(attempts) + 1
    assert all(d["rule"] == "call.role" and d["role"] == "operator" for d in refused)
    # The operator's own actions still go through.
    evse_reset = await tls_csms.post_call("CR-OPERATOR", "Reset", {"type": "OnIdle", "evseId": 1})
    assert evse_reset.status_code == 200, evse_reset.text


async def test_an_officer_cannot_install_a_non_ca_certificate_through_the_generic_call(tls_csms):
    station = await booted(tls_csms, "CR-INSTALL")
    not_ca = pem(candidate_root(ca=False))

    for mode in ("sync", "async"):
        refused = await tls_csms.post_call("CR-INSTALL", "InstallCertificate",
                                           {"certificateType": MANUFACTURER_ROOT, "certificate": not_ca},
                                           role="officer", mode=mode)
        assert refused.status_code == 422, refused.text
        assert refused.json()["rule"] == ("root.not_ca" if mode == "sync" else "call.sync_only")
    assert requests(station, "InstallCertificate") == []

    # A real root takes the same workflow as the dedicated route, refresh of the inventory included.
    good = await tls_csms.post_call("CR-INSTALL", "InstallCertificate",
                                    {"certificateType": MANUFACTURER_ROOT, "certificate": pem(candidate_root())},
                                    role="officer")
    assert good.status_code == 200 and good.json()["response"]["status"] == "Accepted", good.text
    assert len(requests(station, "InstallCertificate")) == 1
    assert any(c["certificate_type"] == MANUFACTURER_ROOT
               for c in (await inventory(tls_csms, "CR-INSTALL"))["certificates"])


async def test_an_officer_cannot_delete_the_last_csms_root_through_the_generic_call(tls_csms):
    station = await booted(tls_csms, "CR-DELETE")
    foreign = make_root("ec", serial=0xF7).certificate
    station.certificates.add(CSMS_ROOT, foreign)
    assert (await refresh(tls_csms, "CR-DELETE")).status_code == 200

    refused = await tls_csms.post_call("CR-DELETE", "DeleteCertificate", {"certificateHashData": _hash_data(foreign)},
                                       role="officer")

    assert refused.status_code == 422 and refused.json()["rule"] == "delete.last_csms_root", refused.text
    assert requests(station, "DeleteCertificate") == []


async def test_an_officer_cannot_send_a_foreign_chain(tls_csms, tmp_path):
    station = await booted(tls_csms, "CR-CHAIN")
    tls_csms.add_station("CR-OTHER", profile=2)
    cases = {
        "call.certificate_signed.foreign": _foreign_chain(),
        "call.certificate_signed.station": _our_chain(tls_csms, "CR-OTHER", tmp_path),
    }
    for rule, chain in cases.items():
        refused = await tls_csms.post_call("CR-CHAIN", "CertificateSigned",
                                           {"certificateChain": chain, "certificateType": "ChargingStationCertificate"},
                                           role="officer")
        assert refused.status_code == 422 and refused.json()["rule"] == rule, refused.text
    assert requests(station, "CertificateSigned") == []

    ours = _our_chain(tls_csms, "CR-CHAIN", tmp_path)
    sent = await tls_csms.post_call("CR-CHAIN", "CertificateSigned",
                                    {"certificateChain": ours, "certificateType": "ChargingStationCertificate"},
                                    role="officer")
    assert sent.status_code == 200, sent.text
    assert [p["certificateChain"] for p in requests(station, "CertificateSigned")] == [ours]


async def test_an_officer_cannot_lower_the_station_to_profile_1(tls_csms):
    station = await booted(tls_csms, "CR-PROFILE")

    lower = await tls_csms.post_call("CR-PROFILE", "SetNetworkProfile", NETWORK, role="officer")
    assert lower.status_code == 422 and lower.json()["rule"] == "call.network_profile.lower", lower.text
    same_but_ws = json.loads(json.dumps(NETWORK))
    same_but_ws["connectionData"]["securityProfile"] = 2
    plain = await tls_csms.post_call("CR-PROFILE", "SetNetworkProfile", same_but_ws, role="officer")
    assert plain.status_code == 422 and plain.json()["rule"] == "call.network_profile.url"
    # A profile OCPP 2.0.1 does not have fits no scheme: any URL passed, ws:// included (the
    # upgrade route takes 2 and 3 only).
    for profile in (4, 2**31 - 1):
        same_but_ws["connectionData"]["securityProfile"] = profile
        unknown = await tls_csms.post_call("CR-PROFILE", "SetNetworkProfile", same_but_ws, role="officer")
        assert unknown.status_code == 422 and unknown.json()["rule"] == "call.network_profile.profile", unknown.text
    priority = await tls_csms.post_call("CR-PROFILE", "SetVariables",
                                        _set("OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"), role="officer")
    assert priority.status_code == 422 and priority.json()["rule"] == "call.dedicated_route"
    assert "security-profile-upgrade" in priority.json()["error"]
    assert requests(station, "SetNetworkProfile") == [] and requests(station, "SetVariables") == []


@pytest.mark.parametrize("payload, rule", [
    (FIRMWARE, "call.firmware.unsigned"),
    (_set("SecurityCtrlr", "OrganizationName", "Someone Else"), "call.organization"),
    (_set("SecurityCtrlr", "Identity", "CR-NEW"), "call.security_ctrlr"),
])
async def test_officer_actions_keep_their_rules(tls_csms, payload, rule):
    station = await booted(tls_csms, "CR-RULES")
    action = "UpdateFirmware" if "firmware" in payload else "SetVariables"
    refused = await tls_csms.post_call("CR-RULES", action, payload, role="officer")
    assert refused.status_code == 422 and refused.json()["rule"] == rule, refused.text
    assert requests(station, action) == []


async def test_a_stored_job_is_checked_again_when_it_leaves(tls_csms, tmp_path):
    password = tls_csms.add_station("CR-LATER", profile=2)
    chain = _our_chain(tls_csms, "CR-LATER", tmp_path)
    stored = await tls_csms.post_call("CR-LATER", "CertificateSigned",
                                      {"certificateChain": chain, "certificateType": "ChargingStationCertificate"},
                                      role="officer", mode="async")
    assert stored.status_code == 202, stored.text
    leaf = x509.load_pem_x509_certificates(chain.encode())[0]
    revoke_certificate(tls_csms.ctx, Actor("cli:test", "officer"),
                                  format(leaf.serial_number, "x"), "keyCompromise")

    station = tls_csms.simulator("CR-LATER", profile=2, password=password)
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"

    async def job() -> dict:
        return (await tls_csms.rest.get(stored.json()["url"], headers=tls_csms.headers())).json()
    for _ in range(200):
        if (answer := await job())["status"] != "pending":
            break
        await asyncio.sleep(0.02)
    assert answer["status"] == "failed" and answer["error"].startswith("call.certificate_signed.status"), answer
    assert requests(station, "CertificateSigned") == []
