"""A station's certificate capacity (SecurityCtrlr.CertificateEntries maxLimit), learned from its
device-model report. Real server, real simulated station on profile 2 (wss + Basic), asked
through the REST API."""

from __future__ import annotations

from ocpp_support import tls_csms  # noqa: F401 - fixture
from pki_fixtures import make_root
from trust_anchor_support import MANUFACTURER_ROOT, booted, inventory


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
