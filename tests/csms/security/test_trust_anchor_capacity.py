"""A station's certificate capacity (SecurityCtrlr.CertificateEntries maxLimit): learned from its
device-model report, and an install that cannot fit refused before it leaves, with its rule.
Real server, real simulated station on profile 2 (wss + Basic), asked through the REST API."""

from __future__ import annotations

import json

import pytest
from ocpp_support import tls_csms  # noqa: F401 - fixture
from pki_fixtures import make_leaf, make_root, make_sub_ca
from trust_anchor_support import (
    CSMS_ROOT,
    MANUFACTURER_ROOT,
    audit,
    booted,
    csms_root,
    install,
    inventory,
    pem,
    refresh,
    requests,
)

from api.csms.provisioning.device_report import certificate_capacity

V2G_CHAIN = "V2GCertificateChain"


async def _base_report(csms, station) -> dict:
    """GetBaseReport FullInventory, as an operator asks for it; the NotifyReport the station sent
    back, once the CSMS acknowledged it."""
    reports: list[dict] = []
    call = station.call

    async def recording(action, payload, timeout=None):
        answer = await call(action, payload, timeout)
        if action == "NotifyReport":
            reports.append(payload)
        return answer

    station.call = recording
    try:
        answer = await csms.post_call(station.identity, "GetBaseReport",
                                      {"requestId": 4, "reportBase": "FullInventory"})
        assert answer.status_code == 200 and answer.json()["response"] == {"status": "Accepted"}, answer.text
        await csms.until(lambda: reports)
    finally:
        station.call = call
    return reports[0]


def _certificate_entries(report: dict) -> dict:
    return next(e for e in report["reportData"]
                if (e["component"]["name"], e["variable"]["name"]) == ("SecurityCtrlr", "CertificateEntries"))


async def _station_holding(csms, station_id: str, capacity: int | None, *roots, report: bool = True):
    """A booted station that can store ``capacity`` certificates and holds ``roots``, its inventory
    read; with ``report`` the CSMS also learned the capacity from its GetBaseReport."""
    station = await booted(csms, station_id)
    station.certificates.capacity = capacity
    for certificate_type, root in roots:
        station.certificates.add(certificate_type, root)
    assert (await refresh(csms, station_id)).status_code == 200
    if report:
        await _base_report(csms, station)
    return station


def _manufacturer_root(serial: int):
    return MANUFACTURER_ROOT, make_root("ec", serial=serial).certificate


async def test_the_capacity_is_learned_from_the_stations_base_report(tls_csms):
    station = await booted(tls_csms, "CAP-LEARN")
    station.certificates.capacity = 3
    station.certificates.add(*_manufacturer_root(0xE0))
    assert (await inventory(tls_csms, "CAP-LEARN"))["capacity"] is None

    report = await _base_report(tls_csms, station)

    entries = _certificate_entries(report)
    assert entries["variableAttribute"] == [{"type": "Actual", "value": "1"}]
    assert entries["variableCharacteristics"] == {"dataType": "integer", "supportsMonitoring": False, "maxLimit": 3}
    assert (await inventory(tls_csms, "CAP-LEARN"))["capacity"] == 3
    # A later report that names the variable without a maxLimit says nothing new about it ...
    station.certificates.capacity = None
    assert "maxLimit" not in _certificate_entries(await _base_report(tls_csms, station))["variableCharacteristics"]
    assert (await inventory(tls_csms, "CAP-LEARN"))["capacity"] == 3
    # ... and one with another maxLimit replaces it.
    station.certificates.capacity = 8
    await _base_report(tls_csms, station)
    assert (await inventory(tls_csms, "CAP-LEARN"))["capacity"] == 8


@pytest.mark.parametrize(("max_limit", "capacity"), [
    (12, 12), (12.0, 12), (0, 0), (2 ** 40, 2 ** 31 - 1),
    (2.5, None), (-1, None), (float("nan"), None), (float("inf"), None), (True, None), ("12", None),
])
def test_only_a_whole_non_negative_max_limit_is_taken_as_the_capacity(max_limit, capacity):
    entry = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "CertificateEntries"},
             "variableAttribute": [{"type": "Actual", "value": "3"}],
             "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False, "maxLimit": max_limit}}
    other = {**entry, "variable": {"name": "MaxCertificateChainSize"}}
    assert certificate_capacity([other, entry]) == capacity
    assert certificate_capacity([other]) is None


async def test_an_install_into_a_full_station_is_refused_before_it_leaves(tls_csms):
    station = await _station_holding(tls_csms, "CAP-FULL", 2, (CSMS_ROOT, csms_root(tls_csms)),
                                     _manufacturer_root(0xE1))
    new_root = make_root("ec", serial=0xE2).certificate

    refused = await install(tls_csms, "CAP-FULL", certificate_type=MANUFACTURER_ROOT, pem=pem(new_root))

    assert refused.status_code == 422, refused.text
    assert refused.json()["rule"] == "install.capacity_full"
    assert "holds 2 certificates and can store 2" in refused.json()["error"]
    assert requests(station, "InstallCertificate") == []
    assert len(station.certificates.installed) == 2
    (entry,) = audit(tls_csms, "station.certificate.install", "CAP-FULL")
    detail = json.loads(entry.detail)
    assert entry.outcome == "refused" and detail["rule"] == "install.capacity_full"
    assert (detail["capacity"], detail["installed"]) == (2, 2)


async def test_a_certificate_the_full_station_already_holds_is_sent_again(tls_csms):
    station = await _station_holding(tls_csms, "CAP-AGAIN", 2, (CSMS_ROOT, csms_root(tls_csms)),
                                     _manufacturer_root(0xE3))

    answer = await install(tls_csms, "CAP-AGAIN", certificate_type=CSMS_ROOT, source="csms-root")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "Accepted" and answer.json()["forced"] is False
    assert len(requests(station, "InstallCertificate")) == 1


async def test_an_officer_may_force_an_install_into_a_full_station_with_a_reason(tls_csms):
    station = await _station_holding(tls_csms, "CAP-FORCE", 1, _manufacturer_root(0xE4))
    new_root = pem(make_root("ec", serial=0xE5).certificate)

    no_reason = await install(tls_csms, "CAP-FORCE", certificate_type=MANUFACTURER_ROOT, pem=new_root, force=True)
    assert no_reason.status_code == 422 and no_reason.json()["rule"] == "install.force_reason"
    assert requests(station, "InstallCertificate") == []

    forced = await install(tls_csms, "CAP-FORCE", certificate_type=MANUFACTURER_ROOT, pem=new_root, force=True,
                           reason="vendor says maxLimit is misreported, ticket 9")

    assert forced.status_code == 200, forced.text
    # The station decides, and it is full indeed (M05.FR.03).
    assert forced.json()["status"] == "Failed" and forced.json()["forced"] is True
    assert len(requests(station, "InstallCertificate")) == 1
    entry = audit(tls_csms, "station.certificate.install", "CAP-FORCE")[-1]
    assert entry.outcome == "success" and json.loads(entry.detail)["reason"] == "vendor says maxLimit is " \
                                                                                "misreported, ticket 9"


async def test_an_install_that_fits_is_sent_and_the_next_one_is_refused(tls_csms):
    station = await _station_holding(tls_csms, "CAP-ROOM", 2, _manufacturer_root(0xE6))

    fits = await install(tls_csms, "CAP-ROOM", certificate_type=MANUFACTURER_ROOT,
                         pem=pem(make_root("ec", serial=0xE7).certificate))

    assert fits.status_code == 200, fits.text
    assert fits.json()["status"] == "Accepted"
    assert len(fits.json()["inventory"]["certificates"]) == 2 and fits.json()["inventory"]["capacity"] == 2
    # The refreshed inventory counts the new one: the station is full now.
    full = await install(tls_csms, "CAP-ROOM", certificate_type=MANUFACTURER_ROOT,
                         pem=pem(make_root("ec", serial=0xE8).certificate))
    assert full.status_code == 422 and full.json()["rule"] == "install.capacity_full"
    assert len(requests(station, "InstallCertificate")) == 1


async def test_the_sub_cas_of_a_v2g_chain_take_no_place_of_their_own(tls_csms):
    # A station counts its entries, or every certificate; counting entries refuses only what
    # either would refuse.
    v2g_root = make_root("ec", serial=0xEA)
    sub_ca = make_sub_ca(v2g_root, "ec", serial=0xEB)
    station = await booted(tls_csms, "CAP-V2G")
    station.certificates.capacity = 2
    station.certificates.add(V2G_CHAIN, make_leaf(sub_ca, "ec", serial=0xEC).certificate, sub_ca.certificate,
                             children=[(sub_ca.certificate, v2g_root.certificate)])
    assert (await refresh(tls_csms, "CAP-V2G")).status_code == 200
    await _base_report(tls_csms, station)
    assert len((await inventory(tls_csms, "CAP-V2G"))["certificates"]) == 2  # the leaf and its sub-CA

    answer = await install(tls_csms, "CAP-V2G", certificate_type=MANUFACTURER_ROOT,
                           pem=pem(make_root("ec", serial=0xED).certificate))

    assert answer.status_code == 200 and answer.json()["status"] == "Accepted", answer.text


async def test_with_the_capacity_unknown_the_station_decides_as_before(tls_csms):
    # Full, but it never reported its capacity: the install goes, and the station answers Failed.
    station = await _station_holding(tls_csms, "CAP-UNKNOWN", 1, _manufacturer_root(0xE9), report=False)

    answer = await install(tls_csms, "CAP-UNKNOWN", certificate_type=CSMS_ROOT, source="csms-root")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "Failed" and answer.json()["inventory"]["capacity"] is None
    assert len(requests(station, "InstallCertificate")) == 1
