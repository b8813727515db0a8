"""A simulated OCPP 2.0.1 charging station: a real OCPP-J client over a real WebSocket.

Profiles 1/2 send HTTP Basic credentials, profile 3 presents a TLS client certificate; wss
connections trust the CSMS root given in ``TlsOptions``. The station answers CSMS-initiated calls
from a table of handlers (replace or extend ``station.handlers``) and keeps the certificate it
gets through CertificateSigned for its next connection, as a real station does (A02).

Frames are plain JSON: [2, id, action, payload] / [3, id, payload] / [4, id, code, text, details].
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import itertools
import json
import logging
import ssl
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from simulator import keys
from simulator.certificate_store import CertificateStore
from simulator.customer_data import CustomerData
from simulator.data_transfer import VendorData
from simulator.device_model import DeviceModel, StationCallError, define_standard
from simulator.display import Display
from simulator.firmware import FirmwareUpdater
from simulator.monitoring import Monitors
from simulator.network_profiles import NetworkProfiles

log = logging.getLogger("chargeca.simulator")
# websockets logs every header and frame at DEBUG: the Basic-auth header and SetVariables
# (BasicAuthPassword) frames would put the station's password in a log (A01.FR.08/09), so the
# simulator's websockets log starts at INFO whatever the root level.
_ws_log = logging.getLogger("chargeca.simulator.websockets")
_ws_log.setLevel(logging.INFO)

StationHandler = Callable[["SimulatedStation", dict[str, Any]], Awaitable[dict[str, Any]] | dict[str, Any]]
CALL, CALLRESULT, CALLERROR = 2, 3, 4


class StationRefused(Exception):
    """The CSMS did not upgrade the connection: an HTTP status, or a failed TLS handshake."""

    def __init__(self, status: int | None, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status or 'TLS/connection'}: {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers or {}


class CallError(Exception):
    """The CSMS answered a call with CALLERROR."""

    def __init__(self, code: str, description: str, details: dict | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


@dataclass(frozen=True)
class TlsOptions:
    ca_file: str | Path | None = None          # CSMS root the server certificate must chain to
    server_hostname: str | None = None         # name to check the certificate for, if not the URL host
    min_version: ssl.TLSVersion | None = None
    max_version: ssl.TLSVersion | None = None
    ciphers: str | None = None                 # OpenSSL cipher string (TLS 1.2 and lower)

    def context(self, client_cert: Path | None, client_key: Path | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.ciphers:
            context.set_ciphers(self.ciphers)
        if self.min_version:
            context.minimum_version = self.min_version
        if self.max_version:
            context.maximum_version = self.max_version
        if client_cert:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        return context


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class SimulatedStation:
    def __init__(self, identity: str, url: str, *, profile: int = 2, password: str | None = None,
                 username: str | None = None, client_cert: str | Path | None = None,
                 client_key: str | Path | None = None, tls: TlsOptions | None = None,
                 serial_number: str | None = None, organization: str | None = None,
                 model: str = "SimCharger", vendor: str = "ChargeCA Simulator", firmware_version: str = "1.0.0",
                 subprotocols: Sequence[str] = ("ocpp2.0.1",), call_timeout: float = 30.0,
                 max_size: int = 2 ** 20, workdir: str | Path | None = None,
                 source_address: str | None = None) -> None:
        if profile not in (1, 2, 3):
            raise ValueError("security profile must be 1, 2 or 3")
        self.identity = identity
        self.url = url.rstrip("/") + "/" + quote(identity, safe="")
        self.profile = profile
        self.password = password
        self.username = identity if username is None else username
        self.client_cert = Path(client_cert) if client_cert else None
        self.client_key = Path(client_key) if client_key else None
        self.tls = tls or TlsOptions()
        self.serial_number = serial_number or identity
        self.organization = organization
        self.model, self.vendor = model, vendor
        self.firmware_version = firmware_version  # a test updates the firmware by changing it
        self.subprotocols = list(subprotocols)
        self.call_timeout = call_timeout
        self.max_size = max_size
        self.source_address = source_address   # local address to connect from (e.g. 127.0.0.2)
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"sim-{identity}-"))
        self.handlers: dict[str, StationHandler] = dict(DEFAULT_HANDLERS)
        # What the CSMS asked for, in order, for tests and demos to inspect.
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._pending: dict[str, asyncio.Future] = {}
        self._call_slot = asyncio.Lock()  # P4 §4.1.1: one outstanding CALL per direction
        self._pending_key = None
        self._pending_csr: str | None = None
        self._installed = itertools.count(1)
        # Trust anchors it holds (M03-M05) and the variables it reports (GetVariables).
        self.certificates = CertificateStore()
        self.network = NetworkProfiles(profile)
        self.device_model = DeviceModel({**self.certificates.variables(), **self.network.variables()},
                                        self.certificates.max_limits())
        # Customer data (N09/N10), monitors (N02-N08), display messages (O), vendor messages (P).
        self.customers, self.monitoring = CustomerData(), Monitors()
        self.display, self.vendors = Display(), VendorData()
        self.firmware = FirmwareUpdater(self)  # L01: UpdateFirmware, download, signature check, reboot
        define_standard(self.device_model)
        self.reset_answer = "Accepted"       # what Reset is answered (a test sets Scheduled, Rejected)
        self._tasks: set[asyncio.Task] = set()
        self._follow_ups: list[Callable[[], Awaitable[Any]]] = []

    # --- connection --------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self.profile == 3 or self.password is None:
            return {}
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def connect(self, timeout: float = 10.0) -> None:
        """Open the WebSocket; raises StationRefused when the CSMS does not upgrade it."""
        if self.connected:
            raise RuntimeError(f"{self.identity} is already connected")
        options: dict[str, Any] = {}
        if self.source_address:
            options["local_addr"] = (self.source_address, 0)
        if self.url.startswith("wss://"):
            use_cert = self.profile == 3 and self.client_cert is not None
            options["ssl"] = self.tls.context(self.client_cert if use_cert else None,
                                              self.client_key if use_cert else None)
            if self.tls.server_hostname:
                options["server_hostname"] = self.tls.server_hostname
        try:
            self._ws = await connect(self.url, subprotocols=self.subprotocols or None,
                                     additional_headers=self._headers(), open_timeout=timeout,
                                     max_size=self.max_size, compression="deflate", proxy=None,
                                     user_agent_header=None, logger=_ws_log, **options)
        except InvalidStatus as exc:
            response = exc.response
            raise StationRefused(response.status_code, response.body.decode(errors="replace").strip(),
                                 dict(response.headers.raw_items())) from None
        except (OSError, asyncio.TimeoutError, ssl.SSLError, Exception) as exc:  # noqa: BLE001
            raise StationRefused(None, _describe(exc)) from exc
        self._reader = asyncio.create_task(self._read(self._ws), name=f"sim-read-{self.identity}")

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._ws.close_code is None and not self._reader_done()

    def _reader_done(self) -> bool:
        return self._reader is not None and self._reader.done()

    @property
    def websocket(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError(f"{self.identity} has not connected")
        return self._ws

    @property
    def subprotocol(self) -> str | None:
        return self.websocket.subprotocol

    def _ssl_object(self) -> ssl.SSLObject | None:
        return self.websocket.transport.get_extra_info("ssl_object")

    @property
    def tls_version(self) -> str | None:
        ssl_object = self._ssl_object()
        return ssl_object.version() if ssl_object else None

    @property
    def cipher(self) -> str | None:
        ssl_object = self._ssl_object()
        return ssl_object.cipher()[0] if ssl_object else None

    @property
    def server_certificate(self) -> x509.Certificate | None:
        ssl_object = self._ssl_object()
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        return x509.load_der_x509_certificate(der) if der else None

    async def wait_closed(self, timeout: float = 10.0) -> tuple[int | None, str]:
        """Wait until the CSMS (or we) closed the connection; (close code, reason)."""
        if self._reader is not None:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        ws = self.websocket
        await asyncio.wait_for(ws.wait_closed(), timeout)
        return ws.close_code, ws.close_reason or ""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._ws is not None:
            await self._ws.close(code, reason)
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()

    async def reconnect(self) -> None:
        await self.close()
        self._ws, self._reader = None, None
        await self.connect()

    # --- frames ------------------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self._on_frame(raw)
        except ConnectionClosed:
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"{self.identity}: connection closed"))
            self._pending.clear()

    def _on_frame(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
            kind, message_id = frame[0], frame[1]
        except (ValueError, TypeError, IndexError, KeyError):
            log.warning("%s: unreadable frame from the CSMS", self.identity)
            return
        if kind == CALL:
            self._spawn(self._answer(message_id, frame[2], frame[3]))
            return
        future = self._pending.pop(message_id, None)
        if future is None or future.done():
            return
        if kind == CALLRESULT:
            future.set_result(frame[2])
        elif kind == CALLERROR:
            future.set_exception(CallError(frame[2], frame[3], frame[4] if len(frame) > 4 else None))

    async def _answer(self, message_id: str, action: str, payload: dict[str, Any]) -> None:
        self.received.append((action, payload))
        handler = self.handlers.get(action)
        if handler is None:
            reply: list = [CALLERROR, message_id, "NotImplemented", f"simulator has no handler for {action}", {}]
        else:
            try:
                result = handler(self, payload)
                if inspect.isawaitable(result):
                    result = await result
                reply = [CALLRESULT, message_id, result]
            except StationCallError as exc:
                reply = [CALLERROR, message_id, exc.code, str(exc)[:255], {}]
            except Exception as exc:  # noqa: BLE001 - the CSMS must get an answer
                reply = [CALLERROR, message_id, "InternalError", str(exc)[:255], {}]
        try:
            await self.websocket.send(json.dumps(reply))
        except ConnectionClosed:
            return
        # Messages a handler asked to send once its answer is out (the CSMS waits for it first).
        follow_ups, self._follow_ups = self._follow_ups, []
        for follow_up in follow_ups:
            self._spawn(_logged(follow_up))

    def after_reply(self, follow_up: Callable[[], Awaitable[Any]]) -> None:
        """For handlers: send ``follow_up()`` once the answer to the current CSMS call is sent."""
        self._follow_ups.append(follow_up)

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def call(self, action: str, payload: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send a CALL and return the CALLRESULT payload; raises CallError on CALLERROR."""
        async with self._call_slot:
            message_id = str(uuid.uuid4())
            future = asyncio.get_running_loop().create_future()
            self._pending[message_id] = future
            await self.websocket.send(json.dumps([CALL, message_id, action, payload]))
            try:
                return await asyncio.wait_for(future, timeout or self.call_timeout)
            finally:
                self._pending.pop(message_id, None)

    async def send_raw(self, data: str | bytes) -> None:
        await self.websocket.send(data)

    # --- messages a station sends --------------------------------------------------------------

    async def boot(self, reason: str = "PowerUp") -> dict[str, Any]:
        return await self.call("BootNotification", {
            "reason": reason,
            "chargingStation": {"model": self.model, "vendorName": self.vendor, "serialNumber": self.serial_number,
                                "firmwareVersion": self.firmware_version},
        })

    async def heartbeat(self) -> dict[str, Any]:
        return await self.call("Heartbeat", {})

    async def status_notification(self, evse_id: int = 1, connector_id: int = 1,
                                  status: str = "Available") -> dict[str, Any]:
        return await self.call("StatusNotification", {"timestamp": _now(), "connectorStatus": status,
                                                      "evseId": evse_id, "connectorId": connector_id})

    async def sign_certificate(self, key_spec: str = "ec-p256") -> dict[str, Any]:
        return await self.call("SignCertificate", {"csr": self.make_csr(key_spec),
                                                   "certificateType": "ChargingStationCertificate"})

    async def resend_sign_certificate(self) -> dict[str, Any]:
        """The last CSR once more, as a station does when no CertificateSigned came for it
        (SecurityCtrlr.CertSigningWaitMinimum / CertSigningRepeatTimes), e.g. after a reboot."""
        if self._pending_csr is None:
            raise RuntimeError(f"{self.identity} has no CSR waiting for its certificate")
        return await self.call("SignCertificate", {"csr": self._pending_csr,
                                                   "certificateType": "ChargingStationCertificate"})

    # --- certificates --------------------------------------------------------------------------

    def make_csr(self, key_spec: str = "ec-p256") -> str:
        """New key pair and CSR (CN = identity, O = organization); the key waits for its certificate."""
        self._pending_key = keys.new_private_key(key_spec)
        self._pending_csr = keys.csr_pem(self._pending_key, self.identity, self.organization)
        return self._pending_csr

    def install_certificate(self, chain_pem: str) -> bool:
        """Keep ``chain_pem`` (leaf first) with the key of the last CSR for the next connection.
        False, and nothing changes, when the leaf is not for that key."""
        key = self._pending_key
        if key is None or not keys.chain_matches_key(chain_pem, key):
            return False
        number = next(self._installed)
        self.client_key = keys.write_private(self.workdir / f"station-{number}.key.pem", keys.key_pem(key))
        self.client_cert = self.workdir / f"station-{number}.chain.pem"
        self.client_cert.write_text(chain_pem)
        self._pending_key = self._pending_csr = None
        return True


def _describe(exc: BaseException) -> str:
    parts = []
    while exc is not None and len(parts) < 4:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(parts)


# --- what the simulated station answers by default ------------------------------------------------


def _set_variables(station: SimulatedStation, payload: dict[str, Any]) -> dict[str, Any]:
    def special(item: dict[str, Any]) -> str | None:
        names = (item["component"].get("name"), item["variable"].get("name"))
        if names == ("SecurityCtrlr", "BasicAuthPassword"):
            station.password = item["attributeValue"]  # used from the next connection on (A01)
            return "Accepted"
        if names == ("OCPPCommCtrlr", "NetworkConfigurationPriority"):
            return station.network.set_priority(item["attributeValue"])
        return None
    return station.device_model.set_variables(payload, special)


def _certificate_signed(station: SimulatedStation, payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted" if station.install_certificate(payload["certificateChain"]) else "Rejected"}


def _get_base_report(station: SimulatedStation, payload: dict[str, Any]) -> dict[str, Any]:
    if payload["reportBase"] == "SummaryInventory":
        entries = [e for e in station.device_model.report() if e["component"]["name"] in ("EVSE", "Connector",
                                                                                          "ChargingStation")]
    else:
        entries = station.device_model.report(payload["reportBase"])
    return _stream_report(station, payload["requestId"], entries)


def _get_report(station: SimulatedStation, payload: dict[str, Any]) -> dict[str, Any]:
    entries = station.device_model.report()
    wanted = payload.get("componentVariable")
    if wanted:
        def asked(entry: dict[str, Any]) -> bool:
            return any(w["component"]["name"] == entry["component"]["name"] and
                       ("variable" not in w or w["variable"]["name"] == entry["variable"]["name"]) for w in wanted)
        entries = [e for e in entries if asked(e)]
    if payload.get("componentCriteria"):
        # Every modelled component is Available, Enabled and Present; none reports Problem.
        entries = [] if payload["componentCriteria"] == ["Problem"] else entries
    return _stream_report(station, payload["requestId"], entries)


def _stream_report(station: SimulatedStation, request_id: int, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Accepted, then NotifyReport parts of at most ItemsPerMessage[GetReport] entries (B07.FR.07)."""
    if not entries:
        return {"status": "EmptyResultSet"}
    size = int(station.device_model.value("DeviceDataCtrlr", "ItemsPerMessage", "GetReport") or 20)
    parts = [entries[i:i + size] for i in range(0, len(entries), size)]

    async def stream() -> None:
        for seq_no, part in enumerate(parts):
            await station.call("NotifyReport", {"requestId": request_id, "generatedAt": _now(), "seqNo": seq_no,
                                                "tbc": seq_no < len(parts) - 1, "reportData": part})
    station.after_reply(stream)
    return {"status": "Accepted"}


def _trigger_message(station: SimulatedStation, payload: dict[str, Any]) -> dict[str, Any]:
    requested = payload.get("requestedMessage")
    follow_ups = {"SignChargingStationCertificate": station.sign_certificate, "BootNotification": station.boot,
                  "Heartbeat": station.heartbeat}
    follow_up = follow_ups.get(requested)
    if follow_up is None:
        return {"status": "NotImplemented"}
    station.after_reply(follow_up)
    return {"status": "Accepted"}


async def _logged(follow_up: Callable[[], Awaitable[Any]]) -> None:
    try:
        await follow_up()
    except Exception as exc:  # noqa: BLE001 - a demo station keeps running
        log.warning("follow-up message failed: %s: %s", type(exc).__name__, exc)


DEFAULT_HANDLERS: dict[str, StationHandler] = {
    "SetVariables": _set_variables,
    "CertificateSigned": _certificate_signed,
    "TriggerMessage": _trigger_message,
    "Reset": lambda station, _payload: {"status": station.reset_answer},
    "SetNetworkProfile": lambda station, payload: station.network.set_network_profile(payload),
    "GetInstalledCertificateIds": lambda station, payload: station.certificates.report(payload),
    "InstallCertificate": lambda station, payload: station.certificates.install(payload),
    "DeleteCertificate": lambda station, payload: station.certificates.delete(payload),
    "GetVariables": lambda station, payload: station.device_model.get_variables(payload),
    "GetBaseReport": _get_base_report,
    "CustomerInformation": lambda station, payload: station.customers.handle(station, payload),
    "SetVariableMonitoring": lambda station, payload: station.monitoring.set_variable_monitoring(station, payload),
    "ClearVariableMonitoring": lambda station, payload: station.monitoring.clear_variable_monitoring(station, payload),
    "SetMonitoringBase": lambda station, payload: station.monitoring.set_monitoring_base(station, payload),
    "SetMonitoringLevel": lambda station, payload: station.monitoring.set_monitoring_level(station, payload),
    "GetMonitoringReport": lambda station, payload: station.monitoring.get_monitoring_report(station, payload),
    "SetDisplayMessage": lambda station, payload: station.display.set_display_message(station, payload),
    "GetDisplayMessages": lambda station, payload: station.display.get_display_messages(station, payload),
    "ClearDisplayMessage": lambda station, payload: station.display.clear_display_message(station, payload),
    "DataTransfer": lambda station, payload: station.vendors.data_transfer(station, payload),
    "UpdateFirmware": lambda station, payload: station.firmware.handle(station, payload),
    "GetReport": _get_report,
}
