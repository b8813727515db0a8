"""The OCPP WebSocket listeners: ws for profile 1, wss for profiles 2 and 3.

websockets rather than uvicorn (docs/architecture.md, "Why websockets, not uvicorn, for OCPP"):
admission needs the TLS client certificate and must answer with an HTTP status before the
upgrade. Both listeners run on the caller's event loop, next to uvicorn.

A connection goes: TCP accept (within the connection limits, api/ocpp/transport/connection_limits.py) →
TLS handshake (wss; a refused one is recorded, api/ocpp/transport/tls_refusals.py) → HTTP upgrade → admission
(``process_request``; a refusal is an HTTP answer, never a 101), which first refuses with 400 a
station that does not offer ``ocpp2.0.1`` (ERR2509 §5.10, TC_B_58, superseding P4 §3.2's "complete
the upgrade, then close") → registry → ``session_handler(StationConnection)`` until it returns.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from http import HTTPStatus

from cryptography import x509
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader, NegotiationError
from websockets.headers import parse_subprotocol
from websockets.http11 import Request, Response

from api.core.context import Context
from api.core.failure_log import FailureLog
from api.core.settings import Settings
from api.ocpp.admission.filters import (
    Admission,
    Admitted,
    ConnectAttempt,
    HolderElsewhere,
    Refused,
    default_filters,
    source_of,
)
from api.ocpp.admission.refusal_log import RefusalLog, RefusalLogSettings, RefusalRecord
from api.ocpp.admission.store import DatabaseAdmissionStore
from api.ocpp.admission.throttle import AuthenticationThrottle, ThrottleSettings
from api.ocpp.transport.compression import permessage_deflate
from api.ocpp.transport.connection import SessionHandler, StationConnection
from api.ocpp.transport.connection_limits import (
    ConnectionLimits,
    ConnectionTracker,
    ensure_descriptor_limit,
    quiet_accept_errors,
)
from api.ocpp.transport.log_redaction import redacting_logger
from api.ocpp.transport.oversize import DEFAULT_BUDGET, OversizeReads
from api.ocpp.transport.registry import ConnectionRegistry
from api.ocpp.transport.tls_material import TlsMaterial
from api.ocpp.transport.tls_refusals import watch_handshakes
from policies.tls import effective_tls13_suites
from storage.db import DatabaseUnavailable

log = logging.getLogger("chargeca.ocpp.listener")

OCPP201 = "ocpp2.0.1"
# RFC 6455 §7.4.1
CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, CLOSE_INTERNAL_ERROR = 1000, 1002, 1011
CONNECTION_LIMIT_REACHED = "ConnectionLimitReached"   # security-event type of connections closed at accept
UNSUPPORTED_SUBPROTOCOL = "UnsupportedSubprotocol"    # ... and of upgrades not offering ocpp2.0.1
# A load balancer's health check (deploy/haproxy.cfg): a plain GET, no upgrade, answered 200 before
# any admission work, so that checking a node every few seconds costs it neither a database read
# nor a refusal record. A station's upgrade request to the same path is admitted as any other.
HEALTH_PATH = "/health"


@dataclass(frozen=True)
class ListenerConfig:
    host: str = "0.0.0.0"
    ws_port: int | None = 9000       # profile 1; None: no plain listener (SP1 is optional, C-61)
    wss_port: int | None = 9443      # profiles 2 and 3; None: no TLS listener
    max_size: int = 64 * 1024        # larger frames/messages close the connection with 1009
    # With the message log on, a frame over max_size is still read up to this, so the log keeps
    # its beginning and true size before the session closes with 1009 (the session handler
    # enforces max_size then: StationConnection.max_frame); beyond, it is refused unread (the
    # log keeps its size only). Bounds what one connection can make us buffer. None: every frame
    # over max_size is refused unread by the WebSocket layer.
    read_ceiling: int | None = 1024 * 1024
    # What all connections may hold at once of such frames, beyond max_size; one that would go
    # over is closed with 1009 unread (api/ocpp/transport/oversize.py).
    oversize_budget: int = DEFAULT_BUDGET
    backlog: int = 4096              # boot storms: every station reconnects at once
    open_timeout: float = 10.0       # HTTP upgrade, admission included
    tls_handshake_timeout: float = 10.0
    ping_interval: float | None = 30.0
    ping_timeout: float | None = 30.0
    close_timeout: float = 5.0
    tls_watch_interval: float | None = 60.0   # pick up server-certificate rotations by others
    # None: from the [admission] policy (tests give their own figures).
    throttle: ThrottleSettings | None = None
    limits: ConnectionLimits | None = None
    refusal_log: RefusalLogSettings | None = None
    reuse_port: bool = False         # SO_REUSEPORT: the ports shared by the workers of a machine

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> "ListenerConfig":
        return replace(cls(host=settings.ocpp_host, ws_port=settings.ocpp_ws_port,
                           wss_port=settings.ocpp_wss_port, reuse_port=settings.shared_ports), **overrides)


# asyncio gives every TLS connection a read buffer of SSLProtocol.max_size, 256 KiB on Python
# 3.11 and 3.12, allocated and zeroed up front: 10,000 stations on profile 2/3 would hold 2.5 GiB
# for it while they idle. The buffer only carries ciphertext from the socket and plaintext out of
# OpenSSL in chunks, so its size bounds a chunk, not a message: a 64 KiB OCPP frame still arrives
# whole, in more reads (the WebSocket layer joins them; tests/ocpp/test_ocpp_transport_tls.py sends
# one). OCPP messages are mostly far below 4 KiB, so one page per read costs nothing measurable.
# Process-wide: the class attribute is the only knob asyncio has.
TLS_READ_BUFFER = 4 * 1024


def use_small_tls_buffers() -> None:
    asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


class _QuietConnections(logging.Filter):
    """websockets logs "connection open" and "connection closed" at INFO for every connection:
    in a fleet of thousands that is noise (and ~20 µs each in a reconnect storm), and a line per
    refused connection ("HTTP response sent (404 Not Found)") would let any client write the log
    at its own rate. They are kept as DEBUG records; refusals are logged by the refusal log,
    aggregated and rate-limited (api/ocpp/admission/refusal_log.py)."""

    _PER_CONNECTION = frozenset({"connection open", "connection closed", "HTTP response sent (%d %s)",
                                 "connection rejected (%d %s)"})

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.msg in self._PER_CONNECTION:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self._logger.isEnabledFor(logging.DEBUG)
        return True


# Our own logger for websockets' records: a logging filter applies per logger, so redaction on
# it holds whatever handlers and levels the host configures.
_ws_log = redacting_logger("chargeca.ocpp.websockets")
_ws_log.addFilter(_QuietConnections(_ws_log))


def select_subprotocol(_connection: ServerConnection, offered: Sequence[str]) -> str | None:
    # process_request has refused a request without ocpp2.0.1 already; raising here keeps a 400
    # (never a 101 without the header) should that order ever change (TC_B_58).
    if OCPP201 not in offered:
        raise NegotiationError(f"this CSMS speaks {OCPP201} only")
    return OCPP201


def offers_ocpp201(request: Request) -> bool:
    """The upgrade request offers ``ocpp2.0.1`` among its subprotocols (every header line)."""
    try:
        return any(OCPP201 in parse_subprotocol(value) for value in request.headers.get_all("Sec-WebSocket-Protocol"))
    except InvalidHeader:
        return False


def _transport_facts(connection: ServerConnection) -> tuple[int, x509.Certificate | None]:
    """(profile the transport proves, client certificate)."""
    ssl_object = connection.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return 1, None
    der = ssl_object.getpeercert(binary_form=True)
    certificate = x509.load_der_x509_certificate(der) if der else None
    return (3 if certificate else 2), certificate


def _tls_facts(connection: ServerConnection) -> tuple[str | None, str | None]:
    """(TLS version, cipher), both None on plain ws."""
    ssl_object = connection.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None, None
    cipher = ssl_object.cipher()
    return ssl_object.version(), cipher[0] if cipher else None


def _remote(connection: ServerConnection) -> str | None:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else None


def _forget_upgrade_headers(connection: ServerConnection) -> None:
    """websockets keeps the upgrade's request and response for the connection's life: their
    headers are ~4 KiB of Python objects per idle station (tracemalloc, 2,000 connections).
    Admission has read what it needs; the path and status stay (websockets tells the handshake
    from later frames by ``request`` being set)."""
    if connection.request is not None:
        connection.request = Request(connection.request.path, Headers())
    if connection.response is not None:
        connection.response = Response(connection.response.status_code, connection.response.reason_phrase,
                                       Headers())


def _forget_decoded_peer_certificate(connection: ServerConnection) -> None:
    """asyncio keeps the client certificate decoded into a dict (``peercert``) for the
    connection's life: ~1.9 KiB per idle station (a station certificate's, tracemalloc). Admission
    has read the certificate as DER from the SSL object, which stays; nothing reads the dict. It is
    reachable only through asyncio's private attributes: where they are not as expected, it stays."""
    extra = getattr(getattr(connection.transport, "_ssl_protocol", None), "_extra", None)
    if isinstance(extra, dict):
        extra.pop("peercert", None)


def _answer(connection: ServerConnection, status: HTTPStatus, text: str, headers: dict[str, str]) -> Response:
    response = connection.respond(status, text + "\n")
    for name, value in headers.items():
        response.headers[name] = value
    return response


class Listeners:
    """The running listeners; ``close()`` stops them and closes every connection."""

    def __init__(self, ctx: Context, session_handler: SessionHandler, config: ListenerConfig,
                 registry: ConnectionRegistry, tls: TlsMaterial | None,
                 holder_elsewhere: HolderElsewhere | None = None) -> None:
        self.config = config
        self.registry = registry
        self.tls = tls
        self._session_handler = session_handler
        policy = ctx.policy.admission
        self.throttle = AuthenticationThrottle(config.throttle or ThrottleSettings.from_policy(policy))
        self.connections = ConnectionTracker(config.limits or ConnectionLimits.from_policy(policy),
                                             on_refused=self._closed_at_accept)
        store = DatabaseAdmissionStore(ctx.engine)
        self.refusals = RefusalLog(store, config.refusal_log or RefusalLogSettings.from_policy(policy))
        # Without wss there is no profile 3, hence no client certificate to anchor.
        anchors = tls.station_anchors if tls else dict
        self.admission = Admission(
            default_filters(store, throttle=self.throttle, registry=registry,
                            replace_duplicate=policy.replace_duplicate_connection,
                            anchors=anchors, holder_elsewhere=holder_elsewhere),
            store, self.throttle, self.refusals)
        self._database_failures = FailureLog(log, "admission reading the database")
        self._accept_errors: quiet_accept_errors | None = None
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, Admitted] = weakref.WeakKeyDictionary()
        self._servers: list[Server] = []
        self._tasks: set[asyncio.Task] = set()
        # Run after an explicit reload (a rotation pass here, also one that finds a switch
        # another node saved but never served), not after the watch's: in cluster mode the
        # other nodes are told (api/cluster/notices.py).
        self.on_tls_reload: list[Callable[[], Awaitable[None]]] = []
        self._read_limit = max(config.max_size, config.read_ceiling) \
            if config.read_ceiling and ctx.policy.message_log.enabled else config.max_size
        # Set exactly when frames over max_size are read (to be logged) before the session refuses them.
        self.oversize = OversizeReads(config.max_size, config.oversize_budget) \
            if self._read_limit > config.max_size else None
        self.ws_port: int | None = None
        self.wss_port: int | None = None

    # --- life cycle ---------------------------------------------------------------------------

    async def _start(self) -> None:
        ensure_descriptor_limit(self.connections.limits)
        self._accept_errors = quiet_accept_errors(asyncio.get_running_loop())
        self._spawn(self.refusals.run())
        if self.config.ws_port is not None:
            server = await self._serve(self.config.ws_port, None)
            self.ws_port = server.sockets[0].getsockname()[1]
        if self.config.wss_port is not None:
            assert self.tls is not None
            context = self.tls.listening_context()
            watch_handshakes(context, self._record_soon)
            server = await self._serve(self.config.wss_port, context,
                                       ssl_handshake_timeout=self.config.tls_handshake_timeout)
            self.wss_port = server.sockets[0].getsockname()[1]
            if self.config.tls_watch_interval:
                self._spawn(self._watch_tls(self.config.tls_watch_interval))
        log.info("OCPP listeners on %s: ws %s, wss %s", self.config.host, self.ws_port, self.wss_port)

    async def _serve(self, port: int, ssl_context, **extra) -> Server:
        config = self.config
        listening = self.connections.listening_socket(config.host, port, config.backlog, reuse_port=config.reuse_port)
        server = await serve(
            self._handle, sock=listening, ssl=ssl_context, process_request=self._process_request,
            select_subprotocol=select_subprotocol, compression=None, extensions=[permessage_deflate()],
            max_size=self._read_limit,
            create_connection=self.oversize.connection if self.oversize is not None else None,
            open_timeout=config.open_timeout, ping_interval=config.ping_interval,
            ping_timeout=config.ping_timeout, close_timeout=config.close_timeout,
            backlog=config.backlog, server_header=None, logger=_ws_log, **extra)
        self._servers.append(server)
        return server

    async def reload_tls(self, *, only_if_changed: bool = False) -> bool:
        """New server certificates / station CAs for new handshakes; open connections stay.
        ``only_if_changed``: reload only if the database holds other material than this process
        serves. Whether it reloaded; the hooks run only then, so a pass that changed nothing
        tells no one."""
        if self.tls is None:
            return False
        if only_if_changed:
            if not await self.tls.refresh_if_changed():
                return False
        else:
            await self.tls.reload_async()
        await self._run_reload_hooks()
        return True

    async def _run_reload_hooks(self) -> None:
        for hook in self.on_tls_reload:
            await hook()

    async def _watch_tls(self, interval: float) -> None:
        assert self.tls is not None
        while True:
            await asyncio.sleep(interval)
            try:
                changed = await self.tls.refresh_if_changed()
            except Exception:  # noqa: BLE001 - keep serving with the material we have
                log.exception("reloading the wss TLS material failed; the previous material stays in use")
                continue
            if changed:
                # Nobody told this node: the rotation's node died before telling anyone (or its
                # notice was lost). What changed here changed for every node, so the hooks run as
                # after a pass's reload: in cluster mode the others hear it now, not at their watch.
                try:
                    await self._run_reload_hooks()
                except Exception:  # noqa: BLE001 - the watch itself must go on
                    log.exception("telling others of a TLS reload failed; they find it at their own watch")

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            server.close()
        await asyncio.gather(*(s.wait_closed() for s in self._servers), return_exceptions=True)
        self._servers.clear()
        try:
            await self.refusals.flush()   # what was counted since the last periodic write
        except Exception:  # noqa: BLE001 - stopping anyway; the log line says what was lost
            log.exception("could not write the last refused-connection records")
        if self._accept_errors is not None:
            self._accept_errors.remove()
            self._accept_errors = None

    # --- refusals outside admission -----------------------------------------------------------

    def _record_soon(self, peer: tuple, refusal: RefusalRecord) -> None:
        """A refusal seen where nothing may be awaited (accept, TLS handshake)."""
        if self.refusals.note(peer[0], None, refusal):
            self._spawn(self._flush_new())

    async def _flush_new(self) -> None:
        try:
            await self.refusals.flush(new_only=True)
        except Exception:  # noqa: BLE001 - the periodic flush tries again
            log.exception("could not write a refused-connection record")

    def _closed_at_accept(self, peer: tuple, rule: str, reason: str) -> None:
        self._record_soon(peer, RefusalRecord(CONNECTION_LIMIT_REACHED, rule, reason))

    async def __aenter__(self) -> "Listeners":
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.close()

    # --- per connection -----------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == HEALTH_PATH and "Upgrade" not in request.headers:
            return connection.respond(HTTPStatus.OK, "ok\n")
        if not any("websocket" in value.lower() for value in request.headers.get_all("Upgrade")):
            # A plain HTTP request (a browser, a scanner) is told what this port speaks, and costs
            # no record: it is no connection attempt of a station.
            return _answer(connection, HTTPStatus.UPGRADE_REQUIRED, "this port speaks OCPP over WebSocket: send "
                                                                    "an upgrade request", {"Upgrade": "websocket"})
        if not offers_ocpp201(request):
            # Before admission: a version we cannot speak costs no database read nor password check.
            # Counted into the refusal log, not logged per attempt: any client would write the log at its rate.
            offered = ", ".join(request.headers.get_all("Sec-WebSocket-Protocol"))
            await self.admission.record(source_of(_remote(connection)), None, RefusalRecord(
                UNSUPPORTED_SUBPROTOCOL, "subprotocol.unsupported",
                f"no {OCPP201} among the offered subprotocols ({offered!r})", HTTPStatus.BAD_REQUEST))
            return _answer(connection, HTTPStatus.BAD_REQUEST, f"no supported subprotocol offered: this CSMS "
                                                               f"speaks {OCPP201}", {})
        profile, certificate = _transport_facts(connection)
        # Repeated lines of one field are one comma-separated value (RFC 9110 5.3): not Basic credentials,
        # refused by admission as malformed, where reading them as one value raised.
        authorization = ", ".join(request.headers.get_all("Authorization")) or None
        attempt = ConnectAttempt(request.path, authorization, profile, certificate, _remote(connection))
        try:
            self._admitted[connection] = await self.admission.admit(attempt)
            self.connections.admitted(connection.remote_address)
        except Refused as refusal:
            return _answer(connection, refusal.status, refusal.public, refusal.headers)
        except DatabaseUnavailable as exc:
            # Not a line per connect: every client, a whole fleet reconnecting, would write one.
            self._database_failures.failed(exc)
            return _answer(connection, HTTPStatus.SERVICE_UNAVAILABLE, "try again later", {"Retry-After": "30"})
        self._database_failures.succeeded()
        return None

    async def _handle(self, websocket: ServerConnection) -> None:
        admitted = self._admitted.pop(websocket, None)
        if admitted is None:  # pragma: no cover - process_request always runs first
            await websocket.close(CLOSE_INTERNAL_ERROR, "not admitted")
            return
        tls_version, cipher = _tls_facts(websocket)
        connection = StationConnection(admitted.station_id, admitted.security_profile, websocket, OCPP201,
                                       _remote(websocket), tls_version, cipher, admitted.client_certificate,
                                       max_frame=self.config.max_size if self.oversize is not None else None)
        _forget_upgrade_headers(websocket)
        _forget_decoded_peer_certificate(websocket)
        displaced = self.registry.register(connection)
        if displaced is not None:
            log.warning("%s connected again; closing its previous connection from %s",
                        connection.station_id, displaced.remote_address)
            self._spawn(displaced.close(CLOSE_NORMAL, "replaced by a newer connection of this station"))
        try:
            await self._session_handler(connection)
        finally:
            self.registry.unregister(connection)


def _warn_about_policy(ctx: Context, tls: TlsMaterial | None) -> None:
    if tls is None:
        return
    wanted = tuple(ctx.policy.tls.tls13_ciphersuites)
    effective = effective_tls13_suites(tls.material.context)
    if effective and set(effective) != set(wanted):
        log.warning("TLS 1.3 suites in effect are OpenSSL's %s, not the policy's %s: Python's ssl "
                    "cannot narrow TLS 1.3 suites", ", ".join(effective), ", ".join(wanted))


async def start_listeners(ctx: Context, session_handler: SessionHandler, config: ListenerConfig | None = None,
                          *, registry: ConnectionRegistry | None = None,
                          tls: TlsMaterial | None = None, holder_elsewhere: HolderElsewhere | None = None) -> Listeners:
    """Start the ws and/or wss listener on the running loop; ports 0 bind free ports (see
    ``.ws_port`` / ``.wss_port``). ``holder_elsewhere``: this process is a node of a cluster
    (api/cluster/node.py), whose other nodes' connections count as duplicates too."""
    config = config or ListenerConfig.from_settings(ctx.settings)
    if config.ws_port is None and config.wss_port is None:
        raise ValueError("no OCPP listener configured: give ws_port, wss_port or both")
    use_small_tls_buffers()
    if config.wss_port is not None:
        tls = tls or TlsMaterial(ctx)
        await tls.reload_async()
    _warn_about_policy(ctx, tls)
    listeners = Listeners(ctx, session_handler, config, ConnectionRegistry() if registry is None else registry, tls,
                          holder_elsewhere)
    try:
        await listeners._start()
    except BaseException:
        await listeners.close()
        raise
    return listeners


__all__ = ["HEALTH_PATH", "ListenerConfig", "Listeners", "OCPP201", "TLS_READ_BUFFER", "select_subprotocol",
           "start_listeners", "use_small_tls_buffers"]
