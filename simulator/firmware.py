"""A simulated station's secure firmware update (L01), done the way a station does it.

On UpdateFirmware it checks the signing certificate against the ManufacturerRootCertificates it
holds (none verifies: InvalidCertificate and a SecurityEventNotification
InvalidFirmwareSigningCertificate), answers, and then runs the update as its own task:
DownloadScheduled (a retrieveDateTime ahead) → Downloading → the image fetched from the location
(simulator/file_transfer.py: HTTPS trusting the CSMS root the station was given, or FTP) → Downloaded or
DownloadFailed → the signature checked over the bytes (InvalidSignature and a
SecurityEventNotification InvalidFirmwareSignature, or SignatureVerified) → InstallScheduled (an
installDateTime ahead) → connectors Unavailable while a transaction runs → Installing →
InstallRebooting → it closes its connection, boots again (reason FirmwareUpdate) with the new
version → Installed. Every notification carries the request's requestId.

Conformance cases that need a station doing otherwise set: ``answer`` (a forced UpdateFirmware
answer, e.g. RevokedCertificate), ``fail_at`` ("download", "verification", "installation"),
``on_new_request`` ("cancel": AcceptedCanceled, L01.FR.24; "reject": Rejected, L01.FR.27),
``hold`` (cleared: the update waits before installing), ``busy`` (a transaction runs),
``tamper`` (the downloaded bytes are damaged before the signature check).

Its own code, apart from the CSMS's: a station that shared the CSMS's checks would hide their bugs.
"""

from __future__ import annotations

import asyncio
import base64
import ftplib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from simulator import file_transfer

if TYPE_CHECKING:
    from simulator.station import SimulatedStation

log = logging.getLogger("chargeca.simulator.firmware")

MANUFACTURER_ROOT = "ManufacturerRootCertificate"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class DownloadError(Exception):
    pass


@dataclass
class Job:
    request_id: int
    firmware: dict[str, Any]
    task: asyncio.Task | None = None


@dataclass
class FirmwareUpdater:
    station: SimulatedStation
    answer: str | None = None                 # forced UpdateFirmware answer
    fail_at: str | None = None                # download | verification | installation
    tamper: bool = False                      # the bytes are damaged after the download (TC_L_06)
    on_new_request: str = "cancel"            # cancel (AcceptedCanceled) | reject (Rejected)
    revoked_serials: set[int] = field(default_factory=set)
    busy: Callable[[], bool] = lambda: False  # a transaction runs (TC_L_13)
    next_version: str | None = None           # the version it reports after installing
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    statuses: list[tuple[int, str]] = field(default_factory=list)
    downloaded: list[tuple[str, bytes]] = field(default_factory=list)
    boots: list[str] = field(default_factory=list)           # the CSMS's answers after each reboot
    current: Job | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.hold.set()

    # --- UpdateFirmware ----------------------------------------------------------------------

    def handle(self, station: SimulatedStation, payload: dict[str, Any]) -> dict[str, Any]:
        firmware = payload["firmware"]
        certificate = self._signing_certificate(firmware.get("signingCertificate"))
        if certificate is None:
            station.after_reply(lambda: self._event("InvalidFirmwareSigningCertificate",
                                                    "the signing certificate does not chain to a manufacturer root"))
            return {"status": "InvalidCertificate"}
        if certificate.serial_number in self.revoked_serials:
            return {"status": "RevokedCertificate"}
        if self.answer is not None:
            return {"status": self.answer}
        status = "Accepted"
        if self.current is not None and self.current.task is not None and not self.current.task.done():
            if self.on_new_request == "reject":
                return {"status": "Rejected"}
            self.current.task.cancel()
            status = "AcceptedCanceled"
        job = Job(payload["requestId"], firmware)
        self.current = job
        self.finished.clear()

        async def start() -> None:
            # Not one of the station's own tasks: those end when it closes its connection, and
            # this one closes it to reboot.
            job.task = asyncio.create_task(self._run(job, certificate), name=f"firmware-{payload['requestId']}")
        station.after_reply(start)
        return {"status": status}

    def _signing_certificate(self, text: str | None) -> x509.Certificate | None:
        if not text:
            return None
        try:
            certificate = x509.load_pem_x509_certificate(text.encode())
        except ValueError:
            return None
        now = datetime.now(UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            return None
        for installed in self.station.certificates.installed:
            if installed.certificate_type != MANUFACTURER_ROOT:
                continue
            root = installed.entry.certificate
            try:
                certificate.verify_directly_issued_by(root)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return certificate
        return None

    # --- the update ----------------------------------------------------------------------------

    async def _status(self, job: Job, status: str) -> None:
        self.statuses.append((job.request_id, status))
        await self.station.call("FirmwareStatusNotification", {"status": status, "requestId": job.request_id})

    async def _event(self, kind: str, info: str) -> None:
        await self.station.call("SecurityEventNotification", {"type": kind, "timestamp": _now(), "techInfo": info})

    async def _until(self, moment: datetime | None) -> bool:
        wait = (moment - datetime.now(UTC)).total_seconds() if moment else 0
        if wait > 0:
            await asyncio.sleep(wait)
        return wait > 0

    async def _run(self, job: Job, certificate: x509.Certificate) -> None:
        try:
            await self._update(job, certificate)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a demo station keeps running
            log.warning("%s: firmware update %s stopped: %s", self.station.identity, job.request_id, exc)
        finally:
            self.finished.set()

    async def _update(self, job: Job, certificate: x509.Certificate) -> None:
        retrieve_at = _when(job.firmware.get("retrieveDateTime"))
        if retrieve_at and retrieve_at > datetime.now(UTC):
            await self._status(job, "DownloadScheduled")
            await self._until(retrieve_at)
        await self._status(job, "Downloading")
        try:
            if self.fail_at == "download":
                raise DownloadError("download failure on purpose")
            image = await asyncio.to_thread(self.fetch, job.firmware["location"])
        except (DownloadError, file_transfer.TransferFailed, OSError, ftplib.Error, ssl.SSLError) as exc:
            log.info("%s: download failed: %s", self.station.identity, exc)
            await self._status(job, "DownloadFailed")
            return
        self.downloaded.append((job.firmware["location"], image))
        if self.tamper:
            image = bytes([image[0] ^ 0xFF]) + image[1:]
        await self._status(job, "Downloaded")
        if not verify_signature(certificate, image, job.firmware.get("signature", "")):
            await self._status(job, "InvalidSignature")
            await self._event("InvalidFirmwareSignature", f"request {job.request_id}: the signature does not verify")
            return
        await self._status(job, "SignatureVerified")
        if self.fail_at == "verification":
            await self._status(job, "InstallVerificationFailed")
            return
        install_at = _when(job.firmware.get("installDateTime"))
        if install_at and install_at > datetime.now(UTC):
            await self._status(job, "InstallScheduled")
            await self._until(install_at)
        await self.hold.wait()
        if self.busy():
            # L01.FR.06/07: no new transaction; install once the running ones have ended.
            await self.station.status_notification(status="Unavailable")
            while self.busy():
                await asyncio.sleep(0.05)
        await self._status(job, "Installing")
        if self.fail_at == "installation":
            await self._status(job, "InstallationFailed")
            return
        await self._status(job, "InstallRebooting")
        await self._reboot(job)
        await self._status(job, "Installed")

    async def _reboot(self, job: Job) -> None:
        self.station.firmware_version = self.next_version or f"{self.station.firmware_version}+fw{job.request_id}"
        await self.station.reconnect()
        self.boots.append((await self.station.boot("FirmwareUpdate"))["status"])

    # --- download ------------------------------------------------------------------------------

    def fetch(self, location: str) -> bytes:
        """The image at ``location``: https (trusting only the CSMS root the station holds) or ftp."""
        tls = self.station.tls
        _, data = file_transfer.download(location, ca_file=tls.ca_file, server_hostname=tls.server_hostname)
        return data


def verify_signature(certificate: x509.Certificate, image: bytes, signature: str) -> bool:
    """The signature (Base64) over the whole image with SHA-256: ECDSA, or RSA PKCS#1 v1.5 / PSS."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        return False
    key = certificate.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, image, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            try:
                key.verify(raw, image, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                key.verify(raw, image, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO),
                           hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True

