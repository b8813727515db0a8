"""Shared steps of the station-certificate tests (A02/A03, the delivery outbox, renewals).

The CSMS is tests/support/ocpp_support.py's (real listeners, TLS, REST on the same loop) with the
certificate workers of ``chargeca serve`` running on a clock the test owns, so back-off and
pacing are checked by moving that clock, not by sleeping. Stations are the project's simulator
on profile 3 with a certificate of our station CA.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import Pki
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from ocpp_support import Csms, open_csms
from ocpp_transport_helpers import issue_client_certificate
from sqlmodel import select

from api.core.audit import run_in_session
from api.csms.security.certificate_workers import CertificateWorkers
from simulator.station import SimulatedStation
from storage.audit import AuditEntry
from storage.certificates import IssuedCertificate
from storage.outbox import OutboundCall
from storage.security_events import SecurityEvent
from storage.types import utcnow

DELIVERY, RENEWAL = "certificate_delivery", "certificate_renewal"


class Clock:
    """The workers' "now": starts at the real time and moves only when the test says so."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def with_policy(pki: Pki, **sections: dict[str, Any]) -> Pki:
    """``pki`` whose context runs with some policy keys changed, e.g. delivery={"max_attempts": 2}."""
    policy = pki.ctx.policy
    changed = {name: dataclasses.replace(getattr(policy, name), **values) for name, values in sections.items()}
    return Pki(dataclasses.replace(pki.ctx, policy=dataclasses.replace(policy, **changed)), pki.hierarchy)


@dataclass
class Harness:
    pki: Pki
    csms: Csms
    workers: CertificateWorkers
    clock: Clock

    # --- stations ---------------------------------------------------------------------------

    async def sp3_station(self, station_id: str, directory: Path, *, issued_at: datetime | None = None,
                          **options: Any) -> SimulatedStation:
        """A registered profile-3 station connected with a certificate of our CA (signed at
        ``issued_at``, default now), booted."""
        station = self.sp3_simulator(station_id, directory, issued_at=issued_at, **options)
        await station.connect()
        assert (await station.boot())["status"] == "Accepted"
        await self.csms.connected(station_id)
        return station

    def sp3_simulator(self, station_id: str, directory: Path, *, issued_at: datetime | None = None,
                      **options: Any) -> SimulatedStation:
        self.csms.add_station(station_id, profile=3)
        chain, key, _serial = issue_client_certificate(self.pki, station_id, directory, now=issued_at)
        return self.csms.simulator(station_id, profile=3, client_cert=chain, client_key=key, **options)

    async def until(self, condition, timeout: float = 10) -> None:
        await self.csms.until(condition, timeout)

    async def settled(self) -> None:
        """Let the outbox look at what is due now, and finish what it started."""
        await self.workers.outbox.run_due()
        await self.workers.outbox.idle()

    # --- what the CSMS stored ---------------------------------------------------------------

    def rows(self, station_id: str, purpose: str) -> list[OutboundCall]:
        return self._all(select(OutboundCall).where(OutboundCall.station_id == station_id,
                                                    OutboundCall.purpose == purpose).order_by(OutboundCall.id))

    def certificates(self, station_id: str) -> list[IssuedCertificate]:
        return self._all(select(IssuedCertificate).where(IssuedCertificate.station_id == station_id)
                         .order_by(IssuedCertificate.id))

    def events(self, station_id: str, source: str | None = None) -> list[SecurityEvent]:
        query = select(SecurityEvent).where(SecurityEvent.station_id == station_id).order_by(SecurityEvent.id)
        if source:
            query = query.where(SecurityEvent.source == source)
        return self._all(query)

    def audit(self, action: str) -> list[AuditEntry]:
        return self._all(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))

    def _all(self, query) -> list:
        return run_in_session(self.csms.ctx, lambda s: list(s.exec(query)))

    # --- the operator -----------------------------------------------------------------------

    async def request_renewal(self, station_id: str, role: str = "operator", **body: Any):
        return await self.csms.rest.post(f"/api/v1/stations/{station_id}/certificate-renewal", json=body or None,
                                         headers=self.csms.headers(role))


@contextlib.asynccontextmanager
async def certificate_csms(pki: Pki, *, clock: Clock | None = None) -> AsyncIterator[Harness]:
    """The CSMS on ws and wss, its certificate workers on ``clock``; the periodic lifecycle pass
    is left to the test (``harness.workers.run_pass()``)."""
    clock = clock or Clock()
    opened = open_csms(pki, tls=True, certificate_workers={"clock": clock, "scan_interval": 0.1})
    csms = await opened.__anext__()
    try:
        yield Harness(pki, csms, csms.certificates, clock)
    finally:
        await opened.aclose()


# --- looking at what a station got ------------------------------------------------------------


def requests(station: SimulatedStation, action: str) -> list[dict]:
    return [payload for received, payload in station.received if received == action]


def chain_of(payload: dict) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(payload["certificateChain"].encode())


def spki(key_or_certificate) -> bytes:
    public = key_or_certificate.public_key() if hasattr(key_or_certificate, "public_key") else key_or_certificate
    return public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def openssl_verify(directory: Path, root_pem: Path, chain: list[x509.Certificate], purpose: str = "sslclient") -> str:
    """OpenSSL as the relying party: the leaf, with the rest of the chain as untrusted
    intermediates, must chain to ``root_pem`` alone, for ``purpose`` (sslclient: TLS client use)."""
    leaf, untrusted = directory / "leaf.pem", directory / "untrusted.pem"
    leaf.write_bytes(chain[0].public_bytes(Encoding.PEM))
    untrusted.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in chain[1:]))
    done = subprocess.run(["openssl", "verify", "-purpose", purpose, "-CAfile", str(root_pem),
                           "-untrusted", str(untrusted), str(leaf)], capture_output=True, text=True)
    return (done.stdout + done.stderr).strip()


def answer(row: OutboundCall) -> dict | None:
    return json.loads(row.response) if row.response else None
