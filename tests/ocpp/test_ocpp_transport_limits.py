"""Admission under attack, over real sockets on loopback (issue 9 items 2, 4, 24, 25): parallel
password guesses, floods of refused connects, idle connections that never ask for anything,
running out of file descriptors. Source addresses 127.0.0.x are all loopback on Linux."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocpp_transport_helpers import events, register, running_gateway
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from api.core import credentials
from api.ocpp.admission.filters import AUTHENTICATION_THROTTLED, FAILED_AUTHENTICATION, UNKNOWN_STATION
from api.ocpp.admission.throttle import ThrottleSettings
from api.ocpp.transport.connection_limits import ConnectionLimits
from api.ocpp.transport.listener import CONNECTION_LIMIT_REACHED, UNSUPPORTED_SUBPROTOCOL

PASSWORD = "Station-Password-0123"
WRONG = "Wrong-Password-00000000"
ROOT = Path(__file__).resolve().parents[2]


class CountingHasher:
    """The real argon2 hasher, counting the verifications that run (what a guess costs us), and
    how many ran at once at most; ``delay`` stretches each so that overlaps show."""

    def __init__(self, monkeypatch, delay: float = 0.0) -> None:
        self.calls = self.most = self._running = 0
        self._lock = threading.Lock()
        self._real = credentials._HASHER
        self._delay = delay
        monkeypatch.setattr(credentials, "_HASHER", self)

    def hash(self, secret):
        return self._real.hash(secret)

    def verify(self, stored, secret):
        with self._lock:
            self.calls += 1
            self._running += 1
            self.most = max(self.most, self._running)
        try:
            time.sleep(self._delay)
            return self._real.verify(stored, secret)
        finally:
            with self._lock:
                self._running -= 1


async def ws_connect(url: str, identity: str, password: str | None, source: str) -> int:
    """One real connect; the HTTP status answered (101 when upgraded, then closed)."""
    headers = {}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()
    try:
        async with connect(f"{url}/{identity}", subprotocols=["ocpp2.0.1"], additional_headers=headers,
                           open_timeout=10, local_addr=(source, 0), proxy=None):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


# --- item 2: Basic-auth guesses ---------------------------------------------------------------------


async def test_parallel_guesses_barely_reach_the_hash_and_the_real_station_still_gets_in(
        sqlite_pki, tmp_path, monkeypatch):
    register(sqlite_pki, "CP_1", 1, PASSWORD)
    hasher = CountingHasher(monkeypatch)
    throttle = ThrottleSettings(free_failures=3, base_delay=5.0, max_delay=60.0)
    async with running_gateway(sqlite_pki, tmp_path, throttle=throttle) as gateway:
        statuses = []
        for _ in range(2):   # two waves of a hundred parallel guesses
            statuses += await asyncio.gather(*(ws_connect(gateway.ws_url, "CP_1", WRONG, "127.0.0.1")
                                               for _ in range(100)))
        assert set(statuses) <= {401, 429} and statuses.count(401) >= 1
        # Counted before verifying: only the free failures and the one that triggers the back-off.
        assert hasher.calls <= throttle.free_failures + 1, hasher.calls
        assert gateway.listeners.throttle.counts.verifications == hasher.calls
        # The guessing address waits, even with the right password ...
        assert await ws_connect(gateway.ws_url, "CP_1", PASSWORD, "127.0.0.1") == 429
        # ... the station itself, from its own address, is not locked out of its account.
        station = gateway.station("CP_1", profile=1, password=PASSWORD, source_address="127.0.0.2")
        await station.connect()
        assert (await station.boot())["status"] == "Accepted"
        await station.close()


async def test_checks_of_one_identity_run_at_most_n_at_once(sqlite_pki, tmp_path, monkeypatch):
    register(sqlite_pki, "CP_1", 1, PASSWORD)
    hasher = CountingHasher(monkeypatch, delay=0.2)
    throttle = ThrottleSettings(free_failures=3, base_delay=5.0, max_delay=60.0, per_identity=2)
    async with running_gateway(sqlite_pki, tmp_path, throttle=throttle) as gateway:
        # Twelve sources, one guess each: every one is a first try, so none is throttled,
        # yet no more than two hashes of CP_1 run at a time.
        sources = [f"127.0.1.{n}" for n in range(1, 13)]
        statuses = await asyncio.gather(*(ws_connect(gateway.ws_url, "CP_1", WRONG, s) for s in sources))
        assert statuses == [401] * 12
        assert hasher.calls == 12 and hasher.most == 2


def test_throttle_figures_are_policy():
    from policies.loader import PolicyError, default_policy_data, parse_policy

    policy = parse_policy({"admission": {"free_failures": 5, "max_failure_delay_seconds": 60}}, default_policy_data())
    settings = ThrottleSettings.from_policy(policy.admission)
    assert (settings.free_failures, settings.max_delay, settings.per_identity) == (5, 60.0, 2)
    with pytest.raises(PolicyError, match=r"\[admission\].max_verifications_per_identity"):
        parse_policy({"admission": {"max_verifications_per_identity": 0}}, default_policy_data())
    with pytest.raises(PolicyError, match=r"max_pending_per_source"):
        parse_policy({"admission": {"max_pending_per_source": 5000}}, default_policy_data())


# --- items 4 and 25: floods of refused connects ---------------------------------------------------


async def test_a_flood_of_refused_connects_writes_a_bounded_number_of_rows_and_lines(
        sqlite_pki, tmp_path, caplog):
    register(sqlite_pki, "CP_1", 1, PASSWORD)
    caplog.set_level(logging.INFO)
    unknown, guesses = 300, 60
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        statuses = []
        for start in range(0, unknown, 50):   # fifty at a time, each a new identity
            statuses += await asyncio.gather(*(ws_connect(gateway.ws_url, f"NOPE-{n:04}", None, "127.0.0.3")
                                               for n in range(start, start + 50)))
        for start in range(0, guesses, 20):
            statuses += await asyncio.gather(*(ws_connect(gateway.ws_url, "CP_1", WRONG, "127.0.0.4")
                                               for _ in range(20)))
        # Throttled per source before any lookup: most of the flood never reached the database.
        source = gateway.listeners.throttle.settings.source_burst
        assert statuses[:unknown].count(404) <= source + 50
        assert statuses[:unknown].count(429) >= unknown - source - 50
        # The real station, from elsewhere, still gets in.
        station = gateway.station("CP_1", profile=1, password=PASSWORD, source_address="127.0.0.5")
        await station.connect()
        await station.close()
    recorded = [e for e in events(sqlite_pki) if e.source_address in ("127.0.0.3", "127.0.0.4")]
    assert sum(e.occurrences for e in recorded) == unknown + guesses   # every refusal counted ...
    assert len(recorded) <= 6                                           # ... in a few rows
    by_source = {(e.source_address, e.type) for e in recorded}
    assert {("127.0.0.3", UNKNOWN_STATION), ("127.0.0.3", AUTHENTICATION_THROTTLED),
            ("127.0.0.4", FAILED_AUTHENTICATION)} <= by_source
    flood_of_unknown = next(e for e in recorded if e.type == UNKNOWN_STATION)
    assert flood_of_unknown.station_id is None and "NOPE-" in flood_of_unknown.tech_info  # some named
    # Every logger, INFO and up: no line per refused connection anywhere (websockets included).
    lines = [r for r in caplog.records if r.name.startswith("chargeca.ocpp")]
    assert len(lines) <= 25, [r.getMessage() for r in lines]


async def offer(url: str, headers: list[tuple[str, str]]) -> int:
    """An upgrade offering what ``headers`` say (no ocpp2.0.1); the HTTP status answered."""
    try:
        async with connect(f"{url}/CP_1", additional_headers=headers, open_timeout=10, proxy=None):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_a_flood_of_upgrades_without_ocpp201_writes_a_bounded_number_of_rows_and_lines(
        sqlite_pki, tmp_path, caplog):
    # Refused before admission, each wrote a log line of its own: any client wrote the log at its rate
    # (and two Sec-WebSocket-Protocol lines made that line raise: a 500 and a traceback).
    caplog.set_level(logging.INFO)
    offers = [[("Sec-WebSocket-Protocol", "ocpp1.6")], [],
              [("Sec-WebSocket-Protocol", "ocpp1.6"), ("Sec-WebSocket-Protocol", "ocpp2.0")]] * 40
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        statuses = []
        for start in range(0, len(offers), 40):
            statuses += await asyncio.gather(*(offer(gateway.ws_url, headers) for headers in offers[start:start + 40]))
        assert statuses == [400] * len(offers)
        assert gateway.listeners.refusals.counts["subprotocol.unsupported"] == len(offers)
    [recorded] = events(sqlite_pki)
    assert recorded.type == UNSUPPORTED_SUBPROTOCOL and recorded.occurrences == len(offers)
    assert recorded.source_address == "127.0.0.1" and "ocpp1.6" in recorded.tech_info
    # The listeners' start and stop lines, and the refusal log's first line and its sum at the close.
    lines = [r for r in caplog.records if r.name.startswith("chargeca.ocpp")]
    assert len(lines) <= 12, [r.getMessage() for r in lines]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_plain_http_request_is_told_to_upgrade_and_recorded_nowhere(sqlite_pki, tmp_path, caplog):
    # It was answered 400 "no supported subprotocol offered", and counted as a refused station.
    caplog.set_level(logging.INFO)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        host, port = gateway.ws_url.removeprefix("ws://").split("/")[0].rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /ocpp/CP_1 HTTP/1.1\r\nHost: csms\r\n\r\n")
        answer = (await asyncio.wait_for(reader.read(4096), 5)).decode()
        writer.close()
        assert answer.startswith("HTTP/1.1 426 "), answer
        assert "\r\nUpgrade: websocket\r\n" in answer and "OCPP over WebSocket" in answer
        assert not gateway.listeners.refusals.counts
    assert events(sqlite_pki) == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_rows_and_lines_stay_within_the_rate_when_sources_are_many(sqlite_pki, tmp_path, caplog):
    from api.ocpp.admission.refusal_log import RefusalLogSettings

    caplog.set_level(logging.WARNING, logger="chargeca.ocpp.admission")
    limits = RefusalLogSettings(rows_per_minute=10, lines_per_minute=10, flush_interval=3600)
    async with running_gateway(sqlite_pki, tmp_path, refusal_log=limits) as gateway:
        sources = [f"127.0.2.{n}" for n in range(1, 41)]
        statuses = await asyncio.gather(*(ws_connect(gateway.ws_url, "NOBODY", None, s) for s in sources))
        assert statuses == [404] * 40
        assert len(events(sqlite_pki)) <= 10   # forty (source, rule) pairs, ten rows a minute
        log = gateway.listeners.refusals
        assert log.counts["station.unknown"] == 40
    lines = [r for r in caplog.records if r.name == "chargeca.ocpp.admission"]
    assert len(lines) <= 10 + 1, len(lines)   # the budget, plus one "held back" notice


# --- item 24: connections waiting for admission -----------------------------------------------------


class IdleConnections:
    """Plain TCP connections a test opens and leaves idle, all closed when the test ends whatever
    happened: one left to the garbage collector warns (ResourceWarning) in whichever later test
    of the worker it is collected, and that test then fails for nothing it did."""

    def __init__(self) -> None:
        self._opened: list[socket.socket] = []

    def open(self, port: int, source: str) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
        self._opened.append(sock)
        return sock

    def close_all(self) -> None:
        for sock in self._opened:
            sock.close()


@pytest.fixture
def raw() -> Iterator[IdleConnections]:
    opened = IdleConnections()
    try:
        yield opened
    finally:
        opened.close_all()


def closed_by_server(sock: socket.socket, within: float = 2.0) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def refused_at_once(raw: IdleConnections, port: int, source: str) -> bool:
    """Whether the server closes a new connection from ``source`` at once. It resets what it
    refuses (linger 0): on a loaded machine the reset can come before connect() has seen the
    handshake complete, and connect() then fails with it; that too is the refusal."""
    try:
        sock = raw.open(port, source)
    except ConnectionResetError:
        return True
    return closed_by_server(sock)


async def test_pending_connections_are_capped_per_source_and_in_total(sqlite_pki, tmp_path, raw):
    register(sqlite_pki, "CP_1", 1, PASSWORD)
    limits = ConnectionLimits(max_connections=100, max_pending=8, max_pending_per_source=5)
    async with running_gateway(sqlite_pki, tmp_path, limits=limits) as gateway:
        port = gateway.listeners.ws_port
        tracker = gateway.listeners.connections
        idle = [await asyncio.to_thread(raw.open, port, "127.0.0.7") for _ in range(5)]
        await gateway_until(lambda: tracker.pending_from("127.0.0.7") == 5)
        assert await asyncio.to_thread(refused_at_once, raw, port, "127.0.0.7")  # the sixth
        assert not await asyncio.to_thread(closed_by_server, idle[0], 0.2)  # the first five still wait
        # Another address still gets in, and its connection stops counting once admitted.
        station = gateway.station("CP_1", profile=1, password=PASSWORD, source_address="127.0.0.8")
        await station.connect()
        assert tracker.counts.pending == 5 and tracker.counts.open == 6
        # Total: 5 + 3 more waiting from elsewhere fill max_pending; the next one is closed.
        for n in range(3):
            await asyncio.to_thread(raw.open, port, f"127.0.0.{9 + n}")
        await gateway_until(lambda: tracker.counts.pending == 8)
        assert await asyncio.to_thread(refused_at_once, raw, port, "127.0.0.20")
        raw.close_all()
        await gateway_until(lambda: tracker.counts.pending == 0)
        assert (tracker.counts.refused_per_source, tracker.counts.refused_pending) == (1, 1)
        again = gateway.station("CP_1", profile=1, password=PASSWORD, source_address="127.0.0.7")
        await again.connect()   # the address may wait again once its connections went
        await again.close()
        await station.close()
    recorded = [e for e in events(sqlite_pki) if e.type == CONNECTION_LIMIT_REACHED]
    assert {(e.source_address, e.occurrences) for e in recorded} == {("127.0.0.7", 1), ("127.0.0.20", 1)}
    assert any("connection.source_pending_limit" in e.tech_info for e in recorded)


async def gateway_until(condition, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def _child_env(sqlite_pki) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests")])
    env["CHARGECA_DATA_DIR_FOR_TEST"] = str(sqlite_pki.ctx.settings.data_dir)
    return env


_EMFILE_SERVER = textwrap.dedent("""
    import asyncio, logging, os, resource, sys
    from api.core.context import open_context
    from api.core.settings import load_settings
    from api.ocpp.transport.listener import ListenerConfig, start_listeners

    async def serve_station(connection):
        await connection.websocket.wait_closed()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

    async def main():
        ctx = open_context(load_settings(__import__("pathlib").Path(os.environ["CHARGECA_DATA_DIR_FOR_TEST"])))
        listeners = await start_listeners(ctx, serve_station, ListenerConfig(
            host="127.0.0.1", ws_port=0, wss_port=None, tls_watch_interval=None, ping_interval=None))
        # Far fewer descriptors than the capacity needs: accept runs out (EMFILE).
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        print(listeners.ws_port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await listeners.close()

    asyncio.run(main())
""")


async def test_out_of_file_descriptors_logs_a_bounded_warning_and_recovers(sqlite_pki, tmp_path, raw):
    register(sqlite_pki, "CP_1", 1, PASSWORD)
    # The child opens the same database; a dispose here keeps SQLite's file free of our pool.
    sqlite_pki.ctx.engine.dispose()
    child = subprocess.Popen([sys.executable, "-c", _EMFILE_SERVER, "64"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_child_env(sqlite_pki), text=True)
    try:
        port = int(await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 60))
        for _ in range(120):
            await asyncio.to_thread(raw.open, port, "127.0.0.1")
        await asyncio.sleep(3.0)   # three of asyncio's accept retries, all out of descriptors
        raw.close_all()
        # Recovered: the backlog drains, and a station gets in again.
        async with asyncio.timeout(15):
            while True:
                station_url = f"ws://127.0.0.1:{port}"
                if await ws_connect(station_url, "CP_1", PASSWORD, "127.0.0.2") == 101:
                    break
                await asyncio.sleep(0.5)
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        stderr = child.stderr.read()
        child.stdout.close()
        child.stderr.close()
    warnings = [line for line in stderr.splitlines() if "cannot accept connections" in line]
    assert 1 <= len(warnings) <= 2, stderr[-2000:]
    assert "Traceback" not in stderr and "out of system resource" not in stderr, stderr[-2000:]


@pytest.mark.parametrize("hard, outcome", [(8_000, "raised"), (600, "refused")])
def test_start_raises_the_soft_descriptor_limit_or_refuses_naming_it(hard, outcome):
    script = textwrap.dedent(f"""
        import resource
        from api.ocpp.transport.connection_limits import ConnectionLimits, ensure_descriptor_limit
        current_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, min({hard}, current_hard)))
        try:
            ensure_descriptor_limit(ConnectionLimits(max_connections=4000, max_pending=100,
                                                     max_pending_per_source=10, descriptor_reserve=1000))
        except RuntimeError as exc:
            print("refused:", exc)
        else:
            print("raised:", resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    if outcome == "raised":
        assert out.strip() == "raised: 5000"
    else:
        assert out.startswith("refused:") and "RLIMIT_NOFILE hard limit is 600" in out and "5000" in out
