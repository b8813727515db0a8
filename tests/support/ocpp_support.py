"""Shared pieces of the OCPP message-layer tests: the gateway behind the real listeners on
loopback (admission, Basic auth, TLS), the REST API on the same event loop, the project's
simulated station, and a scripted raw station.

The raw station exists because some tests send what no well-behaved client sends (broken JSON,
wrong frame shapes, schema violations) and must see the exact frames that come back.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from conftest import TEST_FQDN, TEST_ORG
from cryptography.hazmat.primitives.serialization import Encoding
from websockets.asyncio.client import ClientConnection, connect

from api.core.audit import ROLES, Actor, run_in_session
from api.core.context import Context
from api.core.settings import GatewayConfig
from api.csms.file_transfer.service import FileServiceConfig
from api.csms.routes import ROUTES
from api.csms.security.certificate_workers import CertificateWorkers
from api.ocpp.gateway import Gateway
from api.ocpp.handler import Handler
from api.ocpp.transport.listener import ListenerConfig, Listeners
from api.operations.stations import add_station
from api.operations.tokens import create_token
from api.rest.app import create_app
from api.stack import running_stack
from simulator.station import SimulatedStation, TlsOptions
from storage.stations import Station

SETUP = Actor("cli:test-setup")
BOOT = {"reason": "PowerUp", "chargingStation": {"model": "SimModel", "vendorName": "ChargeCA Sim",
                                                 "serialNumber": "SIM-0001"}}
STATUS = {"timestamp": "2025-01-01T00:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
NOTIFY_EVENT = {"generatedAt": "2025-01-01T00:00:00Z", "seqNo": 0, "eventData": [{
    "eventId": 1, "timestamp": "2025-01-01T00:00:00Z", "trigger": "Delta", "actualValue": "Available",
    "eventNotificationType": "HardWiredNotification",
    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
    "variable": {"name": "AvailabilityState"}}]}

Answer = Callable[[dict[str, Any]], dict[str, Any] | str | None]


@dataclass(frozen=True)
class Received:
    message_id: str
    action: str
    payload: dict[str, Any]


class WholeFrame(str):
    """An answer's whole frame text, sent as it is but for ``MESSAGE_ID``, which becomes the
    CALL's id (a CALLERROR, or any frame a broken station could send)."""

    MESSAGE_ID = "MESSAGE_ID"


class RawStation:
    """A station script: sends CALLs, answers the CSMS's CALLs from ``answers`` (an answer
    function returns the payload, or its JSON text to send as it is, or a WholeFrame, or None to
    leave the CALL unanswered), and records every CALL it received."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.ws = websocket
        self.answers: dict[str, Answer] = {}
        self.received: asyncio.Queue[Received] = asyncio.Queue()
        self._waiting: dict[str, asyncio.Future] = {}
        self._unmatched: asyncio.Queue[list] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                frame = json.loads(text)
                if frame[0] == 2:
                    await self._on_call(frame)
                elif frame[1] in self._waiting:
                    self._waiting.pop(frame[1]).set_result(frame)
                else:
                    self._unmatched.put_nowait(frame)
        except websockets.ConnectionClosed:
            pass

    async def _on_call(self, frame: list) -> None:
        _, message_id, action, payload = frame
        self.received.put_nowait(Received(message_id, action, payload))
        answer = self.answers.get(action)
        if answer is None:
            await self.ws.send(json.dumps([4, message_id, "NotImplemented", "not scripted", {}]))
            return
        reply = answer(payload)
        if isinstance(reply, WholeFrame):
            await self.ws.send(reply.replace(WholeFrame.MESSAGE_ID, json.dumps(message_id)))
        elif isinstance(reply, str):   # the payload's JSON text, as written (hostile answers)
            await self.ws.send(f"[3,{json.dumps(message_id)},{reply}]")
        elif reply is not None:
            await self.ws.send(json.dumps([3, message_id, reply]))

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 5) -> list:
        """Send a CALL; the CALLRESULT or CALLERROR frame that answers it."""
        message_id = str(uuid.uuid4())
        answer = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = answer
        await self.ws.send(json.dumps([2, message_id, action, payload]))
        return await asyncio.wait_for(answer, timeout)

    async def send_raw(self, text: str | bytes, timeout: float = 5) -> list:
        """Send any text; the next answer frame whose id matches nothing we sent."""
        await self.ws.send(text)
        return await asyncio.wait_for(self._unmatched.get(), timeout)

    async def next_call(self, timeout: float = 5) -> Received:
        return await asyncio.wait_for(self.received.get(), timeout)

    async def reply(self, message_id: str, payload: dict[str, Any]) -> None:
        await self.ws.send(json.dumps([3, message_id, payload]))

    async def boot(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        frame = await self.call("BootNotification", payload or BOOT)
        assert frame[0] == 3, frame
        return frame[2]

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()

    async def wait_closed(self, timeout: float = 5) -> None:
        await asyncio.wait_for(self.ws.wait_closed(), timeout)


@dataclass
class Csms:
    """The gateway behind the real OCPP listeners (ws, and wss when asked) plus the REST API on
    the same event loop."""

    ctx: Context
    gateway: Gateway
    listeners: Listeners
    rest: httpx.AsyncClient
    root_pem: Path
    tokens: dict[str, str] = field(default_factory=dict)
    stations: list[RawStation | SimulatedStation] = field(default_factory=list)
    certificates: CertificateWorkers | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.listeners.ws_port}/ocpp"

    @property
    def wss_url(self) -> str:
        return f"wss://127.0.0.1:{self.listeners.wss_port}/ocpp"

    def headers(self, role: str = "operator") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def settled(self) -> None:
        """Every TransactionEvent answered so far is stored (some are answered once journaled:
        storage/write_behind.py), so that a test may read the database itself."""
        if self.gateway.write_behind is not None:
            await self.gateway.write_behind.settled()

    def add_station(self, station_id: str, profile: int = 1) -> str | None:
        """Register the station; its generated Basic-auth password (profiles 1 and 2)."""
        return add_station(self.ctx, SETUP, station_id, security_profile=profile).password

    def station_row(self, station_id: str) -> Station:
        return run_in_session(self.ctx, lambda s: s.get(Station, station_id))

    async def connect_raw(self, station_id: str, password: str) -> RawStation:
        """A scripted raw station on profile 1 (ws + Basic)."""
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        websocket = await connect(f"{self.ws_url}/{station_id}", subprotocols=["ocpp2.0.1"],
                                  additional_headers={"Authorization": f"Basic {token}"}, open_timeout=5)
        station = RawStation(websocket)
        self.stations.append(station)
        await self.until(lambda: self.gateway.session(station_id) is not None)
        return station

    def simulator(self, station_id: str, *, profile: int = 1, password: str | None = None,
                  **options: Any) -> SimulatedStation:
        """The project's simulated station, on ws (profile 1) or wss (profiles 2 and 3)."""
        url = self.ws_url if profile == 1 else self.wss_url
        tls = TlsOptions(ca_file=self.root_pem, server_hostname=TEST_FQDN)
        station = SimulatedStation(station_id, url, profile=profile, password=password, tls=tls,
                                   organization=TEST_ORG, call_timeout=5, **options)
        self.stations.append(station)
        return station

    async def connected(self, station_id: str) -> None:
        await self.until(lambda: self.gateway.session(station_id) is not None)

    async def until(self, condition: Callable[[], bool], timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)

    async def post_call(self, station_id: str, action: str, payload: dict[str, Any], *, role: str = "operator",
                        **extra: Any) -> httpx.Response:
        return await self.rest.post(f"/api/v1/stations/{station_id}/calls",
                                    json={"action": action, "payload": payload, **extra}, headers=self.headers(role))


async def open_csms(pki: Any, config: GatewayConfig | None = None, *, tls: bool = False,
                    routes: Mapping[str, Handler] = ROUTES,
                    certificate_workers: Mapping[str, Any] | None = None,
                    file_service: FileServiceConfig | None = None,
                    cluster: tuple[Any, Any] | None = None) -> AsyncIterator[Csms]:
    """``certificate_workers``: options of the certificate workers ``chargeca serve`` runs
    (CertificateSigned outbox, renewals); by default no periodic lifecycle pass.
    ``file_service``: the HTTPS/FTP file servers, when a case moves files.
    ``cluster``: (ClusterConfig, Bus), a node of a cluster (``running_stack``'s)."""
    ctx = pki.ctx
    listener_config = ListenerConfig(host="127.0.0.1", ws_port=0, wss_port=0 if tls else None,
                                     ping_interval=None, tls_watch_interval=None)
    root_pem = ctx.settings.data_dir / "test-root.pem"
    root_pem.write_bytes(pki.hierarchy.root.certificate.public_bytes(Encoding.PEM))
    app = create_app(ctx)
    certificate_options = {"scan_interval": 0.2, "pass_interval": None, **(certificate_workers or {})}
    async with running_stack(ctx, app, gateway_config=config or GatewayConfig(boot_retry_interval=1, call_timeout=5),
                             listener_config=listener_config, routes=routes,
                             certificate_options=certificate_options, file_service=file_service,
                             cluster=cluster) as stack, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rest") as rest:
        csms = Csms(ctx, stack.gateway, stack.listeners, rest, root_pem,
                    {role: create_token(ctx, SETUP, role, role).token for role in ROLES},
                    certificates=stack.certificates)
        try:
            yield csms
        finally:
            for station in csms.stations:
                await station.close()


@pytest.fixture
async def csms(sqlite_pki) -> AsyncIterator[Csms]:
    """The CSMS on plain ws (profile 1)."""
    async for made in open_csms(sqlite_pki):
        yield made


@pytest.fixture
async def tls_csms(sqlite_pki) -> AsyncIterator[Csms]:
    """The CSMS on ws and wss (profiles 1-3)."""
    async for made in open_csms(sqlite_pki, tls=True):
        yield made


# The file servers on loopback, both protocols, at ports of their own.
LOOPBACK_FILES = FileServiceConfig(public_name="127.0.0.1", https_host="127.0.0.1", https_port=0,
                                   ftp_host="127.0.0.1", ftp_port=0)


@pytest.fixture
async def files_csms(sqlite_pki) -> AsyncIterator[Csms]:
    """The CSMS on ws and wss with its file service (HTTPS and FTP downloads and uploads)."""
    async for made in open_csms(sqlite_pki, tls=True, file_service=LOOPBACK_FILES):
        yield made
