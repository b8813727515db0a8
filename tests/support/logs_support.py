"""N01 cases: a booted simulated station that uploads logs to the CSMS's file service
(``files_csms`` of ocpp_support)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from conftest import TEST_FQDN
from core_support import booted_station, eventually
from ocpp_support import Csms

from simulator.logs import LogUploads
from simulator.station import SimulatedStation

PROTOCOLS = ["https", "ftp"]


async def log_station(csms: Csms, station_id: str, **options: Any) -> tuple[SimulatedStation, LogUploads]:
    station = await booted_station(csms, station_id)
    return station, LogUploads(station, ca_file=csms.root_pem, server_hostname=TEST_FQDN, **options)


async def request_log(csms: Csms, station_id: str, log_type: str, protocol: str, **body: Any) -> httpx.Response:
    return await csms.rest.post(f"/api/v1/stations/{station_id}/logs",
                                json={"log_type": log_type, "protocol": protocol, **body}, headers=csms.headers())


async def log_request(csms: Csms, station_id: str, request_id: int, role: str = "auditor") -> dict[str, Any]:
    answer = await csms.rest.get(f"/api/v1/stations/{station_id}/logs/{request_id}", headers=csms.headers(role))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def settled(csms: Csms, station_id: str, request_id: int, status: str) -> dict[str, Any]:
    """The request once its last LogStatusNotification is ``status``."""
    async def check() -> dict[str, Any] | None:
        row = await log_request(csms, station_id, request_id)
        return row if row["status"] == status else None
    return await eventually(check, timeout=10)


async def downloaded(csms: Csms, station_id: str, request_id: int) -> bytes:
    """The stored log through REST (auditor), checked against the checksum ChargeCA reports."""
    answer = await csms.rest.get(f"/api/v1/stations/{station_id}/logs/{request_id}/file",
                                 headers=csms.headers("auditor"))
    assert answer.status_code == 200, answer.text
    assert hashlib.sha256(answer.content).hexdigest() == answer.headers["x-content-sha256"]
    return answer.content
