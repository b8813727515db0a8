"""Shared pieces of the OCPP transport tests: real listeners on loopback, real stations.

Plain functions and one async context manager rather than conftest fixtures (conftest.py is
shared); each test builds exactly the stations and listeners it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlmodel import select

from api.core.audit import Actor
from api.ocpp.admission.throttle import ThrottleSettings
from api.ocpp.transport.connection import StationConnection
from api.ocpp.transport.listener import ListenerConfig, Listeners, start_listeners
from api.operations.stations import add_station
from pki import profiles
from pki.issuance import sign_station_csr
from pki.records import sign_and_record
from pki.serials import random_serial
from simulator import SimulatedStation, TlsOptions
from simulator.keys import csr_pem, key_pem, new_private_key, write_private
from storage.certificates import CertKind, CertStatus
from storage.db import session_scope
from storage.security_events import SecurityEvent
from storage.stations import Station
from storage.types import utcnow

FQDN = "csms.test"   # tests/conftest.py TEST_FQDN: the server certificates' CN and SAN
ORG = "Test CSO"     # tests/conftest.py TEST_ORG
ACTOR = Actor("test:transport")


def register(pki, station_id: str, profile: int = 2, password: str | None = None) -> str | None:
    """Add a station; returns its Basic-auth password (generated unless given) for profiles 1/2."""
    made = add_station(pki.ctx, ACTOR, station_id, security_profile=profile, password=password)
    return password or made.password


def update_station(pki, station_id: str, **changes) -> None:
    with session_scope(pki.ctx.engine) as session:
        station = session.get(Station, station_id)
        for name, value in changes.items():
            setattr(station, name, value)
        session.add(station)


def station_row(pki, station_id: str) -> Station:
    with session_scope(pki.ctx.engine) as session:
        return session.get(Station, station_id)


def events(pki, station_id: str | None = None) -> list[SecurityEvent]:
    with session_scope(pki.ctx.engine) as session:
        query = select(SecurityEvent).order_by(SecurityEvent.id)
        if station_id is not None:
            query = query.where(SecurityEvent.station_id == station_id)
        return list(session.exec(query))


def root_file(pki, directory: Path) -> Path:
    path = directory / "csms-root.pem"
    path.write_text(pki.hierarchy.root.record.certificate_pem)
    return path


def issue_client_certificate(pki, station_id: str, directory: Path, key_spec: str = "ec-p256",
                             now: datetime | None = None) -> tuple[Path, Path, str]:
    """A station certificate from our real station CA (chain file, key file, serial hex)."""
    key = new_private_key(key_spec)
    with session_scope(pki.ctx.engine) as session:
        issued = sign_station_csr(session, pki.ctx.keystore, station_id=station_id,
                                  csr_pem=csr_pem(key, station_id, ORG), policy=pki.ctx.policy,
                                  urls=pki.ctx.urls, now=now)
    return write_pair(directory, f"{station_id}-{issued.record.serial_hex[:8]}", issued.chain_pem, key) + (
        issued.record.serial_hex,)


def write_pair(directory: Path, stem: str, chain_pem: str, key) -> tuple[Path, Path]:
    chain = directory / f"{stem}.chain.pem"
    chain.write_text(chain_pem)
    return chain, write_private(directory / f"{stem}.key.pem", key_pem(key))


def pem(certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class CoreAnswers:
    """A tiny session handler standing in for the OCPP-J layer: answers the station's
    BootNotification, Heartbeat, StatusNotification and SignCertificate, remembers what it
    served and received, and lets a test send CSMS-initiated calls (``call``)."""

    served: list[StationConnection] = field(default_factory=list)
    received: list[tuple[str, str, dict]] = field(default_factory=list)
    _waiting: dict[str, asyncio.Future] = field(default_factory=dict)

    async def __call__(self, connection: StationConnection) -> None:
        self.served.append(connection)
        async for raw in connection.websocket:
            message = json.loads(raw)
            if message[0] in (3, 4):
                waiting = self._waiting.pop(message[1], None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(message)
                continue
            self.received.append((connection.station_id, message[2], message[3]))
            now = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
            payload = {"BootNotification": {"currentTime": now, "interval": 300, "status": "Accepted"},
                       "Heartbeat": {"currentTime": now},
                       "SignCertificate": {"status": "Accepted"}}.get(message[2], {})
            await connection.websocket.send(json.dumps([3, message[1], payload]))

    async def call(self, connection: StationConnection, action: str, payload: dict, timeout: float = 10) -> list:
        """Send a CALL to the station; returns its CALLRESULT or CALLERROR frame."""
        message_id = str(uuid.uuid4())
        answer = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = answer
        await connection.websocket.send(json.dumps([2, message_id, action, payload]))
        return await asyncio.wait_for(answer, timeout)

    async def next_request(self, action: str, timeout: float = 10) -> tuple[str, str, dict]:
        """Wait until the station has sent ``action``; returns the first such request."""
        async with asyncio.timeout(timeout):
            while True:
                for item in self.received:
                    if item[1] == action:
                        return item
                await asyncio.sleep(0.01)


@dataclass
class Gateway:
    pki: object
    listeners: Listeners
    handler: CoreAnswers
    root: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.listeners.ws_port}"

    @property
    def wss_url(self) -> str:
        return f"wss://127.0.0.1:{self.listeners.wss_port}"

    def tls(self, **options) -> TlsOptions:
        return TlsOptions(ca_file=self.root, server_hostname=FQDN, **options)

    def station(self, identity: str, profile: int = 2, *, path: str = "", tls: TlsOptions | None = None,
                **options) -> SimulatedStation:
        base = self.ws_url if profile == 1 else self.wss_url
        return SimulatedStation(identity, base + path, profile=profile, tls=tls or self.tls(), **options)


@contextlib.asynccontextmanager
async def running_gateway(pki, tmp_path: Path, **config) -> AsyncIterator[Gateway]:
    handler = CoreAnswers()
    config.setdefault("throttle", ThrottleSettings(free_failures=3, base_delay=0.5, max_delay=2.0))
    listeners = await start_listeners(pki.ctx, handler, ListenerConfig(
        host="127.0.0.1", ws_port=0, wss_port=0, tls_watch_interval=None, **config))
    try:
        yield Gateway(pki, listeners, handler, root_file(pki, tmp_path))
    finally:
        await listeners.close()


def station_ca_certificate(pki, station_id: str, *, organization: str = ORG, record: bool = True):
    """(certificate, key) signed by our real station CA outside the issuance checks, for subjects
    issuance would never produce (another O). ``record=False`` leaves it out of the CA's records."""
    authority = pki.hierarchy.station_ca
    key = new_private_key("ec-p256")
    validity = profiles.Validity.starting(utcnow(), 30, 5)
    builder = profiles.charging_station(station_id, organization, key.public_key(), validity,
                                        authority.certificate, authority.id, pki.ctx.urls)
    ca_key = authority.key(pki.ctx.keystore)
    if not record:
        return builder.serial_number(random_serial()).sign(ca_key, hashes.SHA256()), key
    with session_scope(pki.ctx.engine) as session:
        certificate, _ = sign_and_record(session, builder, ca_key, issuer_id=authority.id, kind=CertKind.STATION,
                                         status=CertStatus.ISSUED, station_id=station_id, lint=False)
    return certificate, key


def rogue_certificate(station_id: str):
    """(leaf, key) from a CA that copies our station CA's names but not its key: unknown issuer."""
    now = datetime.now(timezone.utc)
    ca_key, key = new_private_key("ec-p256"), new_private_key("ec-p256")
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"{ORG} Charging Station CA G1")])
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                                     x509.NameAttribute(NameOID.COMMON_NAME, station_id)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return leaf, key
