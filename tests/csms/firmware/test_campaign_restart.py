"""A firmware campaign outlives the process that ran it: its rows are its state. The first
process installs on the station that is there and stops with the other one still waiting; the
next process's worker picks the campaign up from the database and finishes it when that station
connects."""

from __future__ import annotations

from core_support import eventually
from cryptography import x509
from firmware_support import chargeca_image, reaches, sent
from ocpp_support import LOOPBACK_FILES, open_csms
from trust_anchor_support import MANUFACTURER_ROOT

from api.core.audit import run_in_session
from api.csms.security.installed_certificates import store_report
from pki.hashdata import certificate_hash_data
from simulator.station import SimulatedStation


def _holds_root(csms, station_id: str, root: x509.Certificate) -> None:
    """The station's inventory as it reported it: the manufacturer root."""
    data = certificate_hash_data(root, root).to_ocpp()
    run_in_session(csms.ctx, lambda s: store_report(s, station_id, (MANUFACTURER_ROOT,), {
        "status": "Accepted", "certificateHashDataChain": [{"certificateType": MANUFACTURER_ROOT,
                                                           "certificateHashData": data}]}))


async def _connect(csms, station_id: str, password: str, root: x509.Certificate) -> SimulatedStation:
    station = csms.simulator(station_id, profile=2, password=password)
    station.certificates.add(MANUFACTURER_ROOT, root)
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"
    return station


async def _campaign(csms, campaign_id: int) -> dict:
    answer = await csms.rest.get(f"/api/v1/firmware/campaigns/{campaign_id}", headers=csms.headers("auditor"))
    return answer.json()


async def test_a_campaign_resumes_in_the_next_process(sqlite_pki):
    first = open_csms(sqlite_pki, tls=True, file_service=LOOPBACK_FILES)
    csms = await first.__anext__()
    try:
        image, root_pem = await chargeca_image(csms)
        root = x509.load_pem_x509_certificate(root_pem.encode())
        passwords = {sid: csms.add_station(sid, profile=2) for sid in ("RESUME-1", "RESUME-2")}
        for station_id in passwords:
            _holds_root(csms, station_id, root)
        here = await _connect(csms, "RESUME-1", passwords["RESUME-1"], root)
        made = await csms.rest.post("/api/v1/firmware/campaigns", json={
            "image_id": image["id"], "station_filter": "RESUME-*", "per_minute": 600},
            headers=csms.headers("officer"))
        assert made.status_code == 201, made.text
        await csms.until(lambda: sent(here))
        await reaches(csms, "RESUME-1", sent(here)[0]["requestId"], "Installed")
        await _wait_for(csms, made.json()["id"], {"installed": 1, "waiting": 1})
    finally:
        await first.aclose()  # the process ends with the campaign running

    second = open_csms(sqlite_pki, tls=True, file_service=LOOPBACK_FILES)
    csms = await second.__anext__()
    try:
        late = await _connect(csms, "RESUME-2", passwords["RESUME-2"], root)
        shown = await _wait_for(csms, made.json()["id"], {"installed": 2})
        assert shown["status"] == "finished"
        assert len(sent(late)) == 1 and late.firmware.boots == ["Accepted"]
    finally:
        await second.aclose()


async def _wait_for(csms, campaign_id: int, counts: dict[str, int]) -> dict:
    async def reached():
        shown = await _campaign(csms, campaign_id)
        return shown if shown["counts"] == counts else None
    return await eventually(reached, timeout=30)
