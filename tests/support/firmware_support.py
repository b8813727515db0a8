"""Shared steps of the firmware cases (L01): images registered by an officer over REST (signed by
a test manufacturer, or by ChargeCA's own signer), a booted simulated station on profile 2 that
holds the manufacturer root, UpdateFirmware through the firmware route, and what came back."""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pki_fixtures import Issued, make_leaf, make_root
from trust_anchor_support import MANUFACTURER_ROOT, booted, install, pem

from simulator.station import SimulatedStation

HAPPY = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting", "Installed"]
PROTOCOLS = ["https", "ftp"]


@dataclass(frozen=True)
class Manufacturer:
    root: Issued
    signer: Issued

    def sign(self, image: bytes) -> str:
        key = self.signer.key
        if isinstance(key, rsa.RSAPrivateKey):
            return base64.b64encode(key.sign(image, padding.PKCS1v15(), hashes.SHA256())).decode()
        return base64.b64encode(key.sign(image, ec.ECDSA(hashes.SHA256()))).decode()


def manufacturer(kind: str = "ec", serial: int = 0x7001) -> Manufacturer:
    root = make_root(kind, serial=serial)
    return Manufacturer(root, make_leaf(root, kind, serial=serial + 1, station_serial="Firmware Signing"))


def image_bytes(size: int = 200_000) -> bytes:
    return os.urandom(size)


def upload(csms, data: bytes, *, signature: str | None = None, certificate: x509.Certificate | None = None,
           sign: bool = False, name: str = "SimCharger", version: str = "2.0.0", role: str = "officer"):
    headers = csms.headers(role)
    if signature is not None:
        headers["X-Firmware-Signature"] = signature
    if certificate is not None:
        headers["X-Firmware-Signing-Certificate"] = base64.b64encode(pem(certificate).encode()).decode()
    return csms.rest.post("/api/v1/firmware/images", params={"name": name, "version": version, "sign": sign},
                          content=data, headers={**headers, "Content-Type": "application/octet-stream"})


async def manufacturer_image(csms, maker: Manufacturer, data: bytes | None = None) -> dict[str, Any]:
    data = data or image_bytes()
    added = await csms.rest.post("/api/v1/firmware/roots", json={"certificate": pem(maker.root.certificate)},
                                 headers=csms.headers("officer"))
    assert added.status_code == 200, added.text
    uploaded = await upload(csms, data, signature=maker.sign(data), certificate=maker.signer.certificate)
    assert uploaded.status_code == 201, uploaded.text
    return uploaded.json()


async def chargeca_image(csms, data: bytes | None = None) -> tuple[dict[str, Any], str]:
    """An image ChargeCA signs; with the PEM of the manufacturer root it manages."""
    uploaded = await upload(csms, data or image_bytes(), sign=True)
    assert uploaded.status_code == 201, uploaded.text
    roots = (await csms.rest.get("/api/v1/firmware/roots", headers=csms.headers("auditor"))).json()
    (root,) = [r for r in roots if r["id"] == uploaded.json()["root_id"]]
    return uploaded.json(), root["certificate"]


async def station_holding(csms, station_id: str, root_pem: str | None) -> SimulatedStation:
    """Booted on profile 2 (wss: HTTPS downloads trust the CSMS root), with ``root_pem``
    installed as its ManufacturerRootCertificate (through the officer's route, which also
    stores the station's inventory)."""
    station = await booted(csms, station_id)
    if root_pem is not None:
        answer = await install(csms, station_id, certificate_type=MANUFACTURER_ROOT, pem=root_pem)
        assert answer.status_code == 200 and answer.json()["status"] == "Accepted", answer.text
    return station


async def ready(csms, station_id: str) -> tuple[SimulatedStation, dict[str, Any]]:
    """The usual start of a case: a ChargeCA-signed image and a station holding its root."""
    image, root = await chargeca_image(csms)
    return await station_holding(csms, station_id, root), image


def update(csms, station_id: str, image_id: int, protocol: str | None = "https", role: str = "officer",
           **body: Any) -> Any:
    """POST …/firmware-updates; ``protocol`` None: the body names none (ChargeCA chooses)."""
    chosen = {"protocol": protocol} if protocol else {}
    return csms.rest.post(f"/api/v1/stations/{station_id}/firmware-updates",
                          json={"image_id": image_id, **chosen, **body}, headers=csms.headers(role))


def in_seconds(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def statuses(csms, station_id: str, request_id: int) -> list[str]:
    answer = await csms.rest.get(f"/api/v1/stations/{station_id}/firmware-statuses",
                                 params={"request_id": request_id}, headers=csms.headers("auditor"))
    assert answer.status_code == 200, answer.text
    return [s["status"] for s in answer.json()]


async def updates(csms, station_id: str) -> list[dict[str, Any]]:
    answer = await csms.rest.get(f"/api/v1/stations/{station_id}/firmware-updates", headers=csms.headers("auditor"))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def reaches(csms, station_id: str, request_id: int, last: str, timeout: float = 15) -> list[str]:
    """The stored statuses of ``request_id`` once the last one is ``last``."""
    async with asyncio.timeout(timeout):
        while True:
            seen = await statuses(csms, station_id, request_id)
            if seen and seen[-1] == last:
                return seen
            await asyncio.sleep(0.05)


async def security_alerts(csms, station_id: str) -> list[dict[str, Any]]:
    answer = await csms.rest.get("/api/v1/security-events", params={"station_id": station_id},
                                 headers=csms.headers("auditor"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["events"] if isinstance(body, dict) else body


def sent(station: SimulatedStation, action: str = "UpdateFirmware") -> list[dict[str, Any]]:
    return [payload for name, payload in station.received if name == action]


async def downloaded_over(station: SimulatedStation, protocol: str, data_sha256: str) -> None:
    """The station fetched the image over ``protocol`` and got the bytes registered."""
    import hashlib
    ((location, data),) = station.firmware.downloaded
    assert location.startswith(f"{protocol}://")
    assert hashlib.sha256(data).hexdigest() == data_sha256


__all__ = ["HAPPY", "PROTOCOLS", "httpx"]


async def accepted_update(csms, case: str, protocol: str, *, prepare=None, **body: Any):
    """A case's usual start: a station holding the root of a ChargeCA-signed image (``prepare``
    sets it up further), UpdateFirmware sent over ``protocol`` and Accepted (a callable in
    ``body`` is called just before: a time relative to the sending). Returns the station, the
    image and the request the station received."""
    station, image = await ready(csms, case)
    if prepare is not None:
        prepare(station)
    answer = await update(csms, case, image["id"], protocol,
                          **{key: value() if callable(value) else value for key, value in body.items()})
    assert answer.status_code == 200 and answer.json()["result"]["status"] == "Accepted", answer.text
    (request,) = sent(station)
    assert request["requestId"] == answer.json()["update"]["request_id"]
    return station, image, request


async def failing_case(csms, case: str, protocol: str, fail_at: str, expected: list[str]) -> None:
    """TC_L_08/09: the station downloads and verifies, then fails at ``fail_at``; the CSMS keeps
    every status and the update ends there (no reboot)."""
    def fail(station):
        station.firmware.fail_at = fail_at
    station, image, request = await accepted_update(csms, case, protocol, prepare=fail)
    assert await reaches(csms, case, request["requestId"], expected[-1]) == expected
    await downloaded_over(station, protocol, image["sha256"])
    assert station.firmware.boots == []
    (kept,) = await updates(csms, case)
    assert kept["status"] == expected[-1]


async def second_while_first_runs(csms, case: str, protocol: str, on_new_request: str):
    """TC_L_10/11: a first update downloaded and verified, held before installing; a second one
    sent meanwhile. Returns the station, the first requestId and the second's REST answer."""
    station, image = await ready(csms, case)
    station.firmware.on_new_request = on_new_request
    station.firmware.hold.clear()
    first = await update(csms, case, image["id"], protocol)
    first_id = first.json()["update"]["request_id"]
    await reaches(csms, case, first_id, "SignatureVerified")
    second = await update(csms, case, image["id"], protocol)
    station.firmware.hold.set()
    return station, image, first_id, second
