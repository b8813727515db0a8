"""Shared pieces of the rotation tests: a CSMS that can be stopped and started again over the
same database and data directory, and a fleet of simulated stations that behave like real ones
across a rotation.

The service is what ``chargeca serve`` runs — gateway, real OCPP listeners with TLS on loopback,
the certificate workers (CertificateSigned outbox, renewal triggers), the REST API with the
gateway and listeners attached — on the test's event loop. Restarting it builds every part anew
on the same ports, so stations come back to the same URL.

A fleet station is the project's simulator on profile 3, with:
- TLS trust from its own installed CSMS roots (simulator.store_trust), the root of generation 1
  installed "at the factory";
- a keeper task, its reconnect loop: it connects while the station is online, reconnects after
  the CSMS or the connection went away, and reconnects right after it accepted a new certificate
  (the station switches to it, A02); every attempt the CSMS or TLS refused is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from conftest import TEST_FQDN, TEST_ORG
from ocpp_transport_helpers import issue_client_certificate
from sqlmodel import select

from api.core.audit import ROLES, Actor, run_in_session
from api.core.context import Context
from api.core.settings import GatewayConfig
from api.csms.security.certificate_workers import CertificateWorkers
from api.ocpp.gateway import Gateway
from api.ocpp.transport.listener import ListenerConfig, Listeners
from api.operations.stations import add_station
from api.operations.tokens import create_token
from api.rest.app import create_app
from api.stack import running_stack
from simulator.certificate_store import CSMS_ROOT
from simulator.station import SimulatedStation, StationRefused
from simulator.store_trust import InstalledRootsTrust
from storage.certificates import CertificateAuthority, IssuedCertificate
from storage.security_events import SecurityEvent

SETUP = Actor("cli:test-setup")
KEEPER_TICK = 0.05


# --- the service ------------------------------------------------------------------------------


@dataclass
class Service:
    ctx: Context
    tokens: dict[str, str]
    ws_port: int = 0
    wss_port: int = 0
    gateway: Gateway | None = None
    listeners: Listeners | None = None
    workers: CertificateWorkers | None = None
    rest: httpx.AsyncClient | None = None
    app: Any = None
    _running: contextlib.AsyncExitStack | None = None

    @property
    def wss_url(self) -> str:
        return f"wss://127.0.0.1:{self.wss_port}/ocpp"

    async def start(self) -> None:
        config = ListenerConfig(host="127.0.0.1", ws_port=self.ws_port, wss_port=self.wss_port, ping_interval=None,
                                tls_watch_interval=None)
        self.app = create_app(self.ctx)
        self._running = contextlib.AsyncExitStack()
        stack = await self._running.enter_async_context(running_stack(
            self.ctx, self.app, gateway_config=GatewayConfig(boot_retry_interval=1, call_timeout=5),
            listener_config=config, certificate_options={"scan_interval": 0.1, "pass_interval": None}))
        self.gateway, self.listeners, self.workers = stack.gateway, stack.listeners, stack.certificates
        # The same ports after a restart: stations come back to the URL they know.
        self.ws_port, self.wss_port = self.listeners.ws_port, self.listeners.wss_port
        self.rest = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://rest", timeout=300)

    async def stop(self) -> None:
        await self.rest.aclose()
        await self._running.aclose()

    def headers(self, role: str = "officer") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def rotate(self, rotation: str, role: str = "officer", **body: Any) -> dict:
        """One pass through REST; asserts it ran (200) and returns its report."""
        answer = await self.rest.post(f"/api/v1/rotations/{rotation}", json=body, headers=self.headers(role))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def connected(self, station_id: str) -> bool:
        return self.gateway.session(station_id) is not None


@contextlib.asynccontextmanager
async def running_service(pki) -> AsyncIterator[Service]:
    service = Service(pki.ctx, {role: create_token(pki.ctx, SETUP, role, role).token
                                for role in ROLES})
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


# --- the stations -----------------------------------------------------------------------------


@dataclass
class FleetStation:
    station: SimulatedStation
    online: bool = False
    connects: int = 0
    refusals: list[str] = field(default_factory=list)      # the CSMS or TLS said no
    unreachable: int = 0                                    # nothing listened (service down)
    _switch: bool = False
    booted: bool = False
    _task: asyncio.Task | None = None

    @property
    def id(self) -> str:
        return self.station.identity

    def start(self) -> None:
        signed = self.station.handlers["CertificateSigned"]

        def switch_after_accepting(station: SimulatedStation, payload: dict) -> dict:
            answer = signed(station, payload)
            if answer["status"] == "Accepted":
                station.after_reply(self._request_switch)
            return answer

        self.station.handlers["CertificateSigned"] = switch_after_accepting
        self._task = asyncio.create_task(self._keep(), name=f"keeper-{self.id}")

    async def _request_switch(self) -> None:
        self._switch = True

    async def _keep(self) -> None:
        station = self.station
        while True:
            if self.online and station.connected and self._switch:
                self._switch = False
                await station.close()
            if self.online and not station.connected:
                await self._connect()
            elif not self.online and station.connected:
                await station.close()
            await asyncio.sleep(KEEPER_TICK)

    async def _connect(self) -> None:
        try:
            await self.station.connect(timeout=5)
        except StationRefused as refused:
            if refused.status is None and "ConnectionRefusedError" in refused.reason:
                self.unreachable += 1
            else:
                self.refusals.append(str(refused))
            await asyncio.sleep(0.2)
            return
        self.connects += 1
        if not self.booted:
            with contextlib.suppress(Exception):
                self.booted = (await self.station.boot())["status"] == "Accepted"

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.station.close()


@dataclass
class Fleet:
    service: Service
    stations: dict[str, FleetStation]

    def __getitem__(self, station_id: str) -> FleetStation:
        return self.stations[station_id]

    @property
    def ids(self) -> list[str]:
        return sorted(self.stations)

    def set_online(self, station_ids: Iterable[str], online: bool = True) -> None:
        for station_id in station_ids:
            self.stations[station_id].online = online

    async def until_connected(self, station_ids: Iterable[str], timeout: float = 20) -> None:
        wanted = list(station_ids)
        await _wait_for(lambda: all(self.service.connected(s) and self.stations[s].station.connected for s in wanted),
                        timeout)

    async def until_booted(self, station_ids: Iterable[str], timeout: float = 20) -> None:
        wanted = list(station_ids)
        await _wait_for(lambda: all(self.stations[s].booted for s in wanted), timeout)

    async def until_offline(self, station_ids: Iterable[str], timeout: float = 10) -> None:
        wanted = list(station_ids)
        await _wait_for(lambda: not any(self.service.connected(s) for s in wanted), timeout)

    def refusals(self) -> dict[str, list[str]]:
        return {sid: s.refusals for sid, s in self.stations.items() if s.refusals}

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.stations.values()))


async def make_fleet(service: Service, pki, directory: Path, count: int, *, prefix: str = "ROT",
                     additional_root_check: Iterable[int] = (), hash_algorithms=("SHA256", "SHA384", "SHA512"),
                     online: bool = True, issued_at: datetime | None = None) -> Fleet:
    """``count`` registered profile-3 stations with a generation-1 certificate and generation 1's
    root installed; station i has AdditionalRootCertificateCheck when i is in the given set."""
    checked = set(additional_root_check)
    root = pki.hierarchy.root.certificate
    stations: dict[str, FleetStation] = {}
    for index in range(count):
        station_id = f"{prefix}-{index:02d}"
        add_station(service.ctx, SETUP, station_id, security_profile=3)
        chain, key, _ = issue_client_certificate(pki, station_id, directory, now=issued_at)
        (directory / station_id).mkdir()
        simulated = SimulatedStation(station_id, service.wss_url, profile=3, client_cert=chain, client_key=key,
                                     organization=TEST_ORG, call_timeout=5, workdir=directory / station_id)
        simulated.certificates.add(CSMS_ROOT, root)
        simulated.certificates.additional_root_check = index in checked
        simulated.certificates.hash_algorithm = hash_algorithms[index % len(hash_algorithms)]
        simulated.tls = InstalledRootsTrust(simulated.certificates, TEST_FQDN)
        fleet_station = FleetStation(simulated, online=online)
        fleet_station.start()
        stations[station_id] = fleet_station
    fleet = Fleet(service, stations)
    if online:
        # Booted, not only connected: the boot's own writes are done before a test looks.
        await fleet.until_connected(fleet.ids)
        await fleet.until_booted(fleet.ids)
    return fleet


async def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


# --- what an operator would look at -----------------------------------------------------------


def rows(ctx: Context, query) -> list:
    return run_in_session(ctx, lambda s: list(s.exec(query)))


def security_events(ctx: Context) -> list[SecurityEvent]:
    return rows(ctx, select(SecurityEvent).order_by(SecurityEvent.id))


def authority(ctx: Context, role: str, generation: int) -> CertificateAuthority:
    (found,) = rows(ctx, select(CertificateAuthority).where(CertificateAuthority.role == role,
                                                            CertificateAuthority.generation == generation))
    return found


def certificate_of(ctx: Context, serial_hex: str) -> IssuedCertificate:
    (found,) = rows(ctx, select(IssuedCertificate).where(IssuedCertificate.serial_hex == serial_hex))
    return found


def outcomes(report: dict, step: str) -> dict[str | None, str]:
    return {p["station"]: p["outcome"] for p in report["progress"] if p["step"] == step}

