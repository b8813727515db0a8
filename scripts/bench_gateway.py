#!/usr/bin/env python3
"""OCPP gateway performance on this machine. Prints numbers; asserts nothing.

    .venv/bin/python scripts/bench_gateway.py [--stations 1000] [--storm 10000] [--sp2 150] ...

Starts a real ChargeCA server (`python -m api.cli serve`, the wiring of `chargeca serve`: REST
API, ws and wss listeners, gateway) on a fresh data directory with SQLite and a real PKI, on
127.0.0.1 only, and a load generator process (scripts/gateway_load.py). With two or more cores
the server is pinned to CPU 0 and the load generator (and this script) to CPU 1 with taskset, so
the server has one core of its own. Then, in one run:

1. profile-2 connects/s (TLS + Basic auth): first connects (a password hash check each) and
   reconnects of the same stations (what a reconnect storm after a network blip looks like);
2. profile-3 connects/s (TLS with a client certificate), keeping --stations connections open;
   they boot and send one Heartbeat. Resident memory per idle connection: the RSS growth over
   --stations more such connections, divided by their number (the first batch also refills
   memory earlier phases freed, so it is not the one measured); those are closed again;
3. resident memory per idle plain-ws connection (profile 1, Basic auth), measured the same way
   right after (--plain stations), before anything is closed;
4. Heartbeat round trip p50/p99 at --rate msg/s with --stations connected, and server CPU per
   message over the steady phase (utime+stime of the server process / messages); then charging:
   each station starts a transaction, TransactionEvent Updated with 4 sampled values at
   --charging-rate, round trip and server CPU per event against the Heartbeat's, how late the
   server's event loop ran its timers meanwhile, the collector's pauses, how long the server held
   each event and, on PostgreSQL, the journal's syncs (its chargeca_event_loop_delay_seconds,
   chargeca_gc_pause_seconds, chargeca_ocpp_call_seconds and chargeca_journal_*, read from
   /metrics at the phase's marks: a round trip's wait in the server's queue or for the disk, or
   not), and the meter
   values the server acknowledged against those it stored (``--only-charging``: this phase and
   its Heartbeat reference alone; ``--database-url postgresql://…/db``: the server on a fresh
   PostgreSQL database made beside ``db`` and dropped after);
5. capacity: every station sends its next Heartbeat as soon as it has the answer (server core
   saturated), msg/s;
6. boot storm: --storm profile-3 stations connect (--storm-concurrency handshakes in flight)
   and boot; time until all booted, failures, and the kernel's ListenOverflows/ListenDrops;
7. phases 4-6 against a bare reference server on the same core (scripts/
   bench_reference_server.py: the `ocpp` library's example pattern, no auth, no storage), and
   ChargeCA's storm relative to it. This machine's speed varies with its host's load; the ratio,
   measured minutes apart, is what compares across runs.

``--message-log off`` runs all of it with the OCPP message log turned off by policy (``on``, the
default, as shipped); ``--message-log both`` runs only the log's cost: the Heartbeat phase (4) and
the boot storm (6) with the log off, then on (``--repeat`` times, alternating, each on a fresh
server process over the same data), and prints server CPU per Heartbeat and per booted station
for each and the ratio on/off, with the frames the log wrote and dropped.

Station certificates for profile 3 are issued before the run straight through the CA
(pki.records.sign_and_record, no lint) and recorded as active, as after the stations' earlier
connections: the storm is a CSMS restart, not a first installation. The load generator builds
the stations' TLS contexts before it connects anything (~1.2 ms of its CPU each).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch_database import scratch_database  # noqa: E402

from api.core.audit import Actor  # noqa: E402
from api.core.context import open_context  # noqa: E402
from api.core.credentials import hash_secret  # noqa: E402
from api.core.settings import load_settings, write_private  # noqa: E402
from api.operations.tokens import create_token  # noqa: E402
from pki import profiles  # noqa: E402
from pki.authorities import init_pki  # noqa: E402
from pki.records import sign_and_record  # noqa: E402
from storage.certificates import CertKind, CertStatus  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.stations import Station  # noqa: E402
from storage.types import utcnow  # noqa: E402

ORG = "Bench CSO"
FQDN = "csms.bench.localhost"
PASSWORD = "Bench-Password-0123456789"
PASSPHRASE = "bench-passphrase-0123456789"
HOST = "127.0.0.1"
METRICS_TOKEN = "metrics-token"   # an auditor's API token, in the work directory


# --- setup ----------------------------------------------------------------------------------


def sp3_count(args: argparse.Namespace) -> int:
    if args.idle:
        return args.warmup + args.idle
    return max(args.warmup + 2 * args.stations, args.storm)


def sp3_ids(count: int) -> list[str]:
    return [f"S3-{i:05d}" for i in range(count)]


def sp2_ids(count: int) -> list[str]:
    return [f"S2-{i:05d}" for i in range(count)]


def sp1_ids(count: int) -> list[str]:
    return [f"S1-{i:05d}" for i in range(count)]


def prepare(workdir: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """Data directory with a PKI and the bench stations; (data dir, certificate dir)."""
    data, certs = workdir / "data", workdir / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    os.environ["CHARGECA_KEY_PASSPHRASE"] = PASSPHRASE
    ctx = open_context(load_settings(data))
    with session_scope(ctx.engine) as session:
        hierarchy = init_pki(session, ctx.keystore, organization=ORG, fqdn=FQDN, policy=ctx.policy, urls=ctx.urls)
    (workdir / "root.pem").write_text(hierarchy.root.record.certificate_pem)
    # For /metrics: the server's own event-loop delay, read at the phases' marks (server_delays).
    token = create_token(ctx, Actor("system:bench_gateway", "officer"), "auditor", "bench_gateway metrics").token
    write_private(workdir / METRICS_TOKEN, token)
    # One argon2 hash for every Basic-auth station: verifying it costs the same as a unique one.
    password_hash = hash_secret(PASSWORD)
    with session_scope(ctx.engine) as session:
        session.add_all(Station(id=i, security_profile=2, password_hash=password_hash) for i in sp2_ids(args.sp2))
        session.add_all(Station(id=i, security_profile=1, password_hash=password_hash) for i in sp1_ids(args.plain))
    station_ca = hierarchy.station_ca
    ca_key = station_ca.key(ctx.keystore)
    ca_pem = station_ca.record.certificate_pem
    validity = profiles.Validity.starting(utcnow(), 365, 5,
                                          station_ca.certificate.not_valid_after_utc)
    _reference_material(workdir, hierarchy, ctx, validity)
    identities = sp3_ids(sp3_count(args))
    for start in range(0, len(identities), 1000):
        with session_scope(ctx.engine) as session:
            for identity in identities[start:start + 1000]:
                session.add(Station(id=identity, security_profile=3))
                session.flush()
                key = ec.generate_private_key(ec.SECP256R1())
                builder = profiles.charging_station(identity, ORG, key.public_key(), validity,
                                                    station_ca.certificate, station_ca.id, ctx.urls)
                certificate, _ = sign_and_record(session, builder, ca_key, issuer_id=station_ca.id,
                                                 kind=CertKind.STATION, status=CertStatus.ACTIVE,
                                                 station_id=identity, lint=False)
                (certs / f"{identity}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM)
                                                        + ca_pem.encode())
                (certs / f"{identity}.key").write_bytes(key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ctx.engine.dispose()
    return data, certs


def _reference_material(workdir: Path, hierarchy, ctx, validity: profiles.Validity) -> None:
    """The bare reference server's files: an ECDSA server certificate of our server CA (so the
    stations verify it against the same root), its key in the clear, and the client CAs."""
    server_ca = hierarchy.server_ca
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = profiles.csms_server(FQDN, ORG, key.public_key(), validity, server_ca.certificate,
                                       server_ca.id, ctx.urls)
    # Not recorded: the ChargeCA server under test would load a recorded server certificate.
    certificate = certificate.serial_number(x509.random_serial_number()).sign(server_ca.key(ctx.keystore),
                                                                               hashes.SHA256())
    (workdir / "reference.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM)
                                            + server_ca.record.certificate_pem.encode())
    (workdir / "reference.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    # As ChargeCA's listener does: the station CA and the root it chains to (OpenSSL wants a
    # self-signed anchor at the end of the path).
    (workdir / "station-ca.pem").write_text(hierarchy.station_ca.record.certificate_pem
                                            + hierarchy.root.record.certificate_pem)


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def pinned(cpu: int | None, command: list[str]) -> list[str]:
    return (["taskset", "-c", str(cpu)] + command) if cpu is not None else command


@dataclass
class Server:
    process: subprocess.Popen
    ws_port: int
    wss_port: int
    rest_port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def set_policy(data: Path, *, message_log: bool, connections: int | None = None) -> None:
    """The server's policy override (read at start): the message log on or off and, for a run
    that holds ``connections`` at once, room for them all."""
    text = f"[message_log]\nenabled = {'true' if message_log else 'false'}\n"
    if connections is not None:
        text += (f"\n[admission]\nmax_connections = {connections}\n"
                 f"max_pending_connections = {min(2048, connections)}\n")
    (data / "policy.toml").write_text(text)


def start_server(data: Path, cpu: int | None, log: Path, profile_out: Path | None, *,
                 serve_args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None) -> Server:
    ws_port, wss_port, rest_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGECA_")}
    env.update(extra_env or {})
    env.update(PYTHONUNBUFFERED="1", CHARGECA_DATA=str(data), CHARGECA_KEY_PASSPHRASE=PASSPHRASE,
               CHARGECA_REST_PORT=str(rest_port), CHARGECA_OCPP_HOST=HOST,
               CHARGECA_OCPP_WS_PORT=str(ws_port), CHARGECA_OCPP_WSS_PORT=str(wss_port),
               CHARGECA_FILES_HTTPS_PORT="0", CHARGECA_FTP_PORT="0", CHARGECA_FTP_PASSIVE_PORTS="")
    if "CHARGECA_DATABASE_URL" in os.environ:  # --database-url
        env["CHARGECA_DATABASE_URL"] = os.environ["CHARGECA_DATABASE_URL"]
    env.update(extra_env or {})
    command = [sys.executable]
    if profile_out is not None:
        # As a module, as below: run as a file, api/ would come first on the path and its
        # ocpp package would hide the ocpp library.
        command += ["-m", "cProfile", "-o", str(profile_out), "-m", "api.cli"]
    else:
        command += ["-m", "api.cli"]
    command += ["serve", "--no-dev-init", *serve_args]
    process = subprocess.Popen(pinned(cpu, command), cwd=ROOT, env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, ws_port, wss_port, rest_port, log)
    _wait_listening(server, [ws_port, wss_port, rest_port])
    return server


def start_reference(workdir: Path, cpu: int | None) -> Server:
    port = free_port()
    command = [sys.executable, str(ROOT / "scripts" / "bench_reference_server.py"), HOST, str(port),
               str(workdir / "reference.pem"), str(workdir / "reference.key"), str(workdir / "station-ca.pem")]
    log = workdir / "reference.log"
    process = subprocess.Popen(pinned(cpu, command), cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    server = Server(process, port, port, port, log)
    _wait_listening(server, [port])
    return server


def _wait_listening(server: Server, ports: list[int]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.log.name}: server exited early:\n{server.log.read_text()}")
        if all(_accepts(port) for port in ports):
            return
        time.sleep(0.2)
    server.process.kill()
    raise SystemExit(f"{server.log.name}: server did not start in time")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_SWITCHES = ("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")


def context_switches(pid: int) -> int:
    """The switches away from each of the process's threads so far, voluntary (it waited: for a
    socket, a lock, the interpreter's lock) and not (the scheduler took its core). Counted, not
    timed: a steadier measure of a message's hand-offs between threads than its CPU time."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:   # the thread ended meanwhile
            continue
        total += sum(int(line.split()[1]) for line in lines if line.startswith(_SWITCHES))
    return total


def stolen_seconds() -> float:
    """The machine's CPU time the hypervisor gave to other guests, every core summed (``steal``
    in /proc/stat; 0 on bare metal). On this kind of virtual machine it came in bursts that
    made one run's latencies several times another's with the same code."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def tcp_ext(*names: str) -> dict[str, int]:
    lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines() if line.startswith("TcpExt:")]
    values = dict(zip(lines[0][1:], (int(v) for v in lines[1][1:])))
    return {name: values.get(name, 0) for name in names}


# The server's histograms read at the marks, by name: observations by bucket bound, in seconds,
# cumulative (the collector's generations summed); and counters, under the bound 0.
_HISTOGRAMS = {"chargeca_event_loop_delay_seconds_bucket": "loop", "chargeca_gc_pause_seconds_bucket": "gc",
               "chargeca_journal_sync_seconds_bucket": "sync", "chargeca_journal_answer_wait_seconds_bucket": "wait",
               "chargeca_ocpp_call_seconds_bucket": "held"}
# Of a histogram by label, the series read (the others are left out, not summed).
_ONLY = {"chargeca_ocpp_call_seconds_bucket": 'action="TransactionEvent"'}
_COUNTERS = {"chargeca_journal_sync_answers_total": "answers"}


def server_delays(rest_port: int, token: str) -> dict[str, dict[float, float]]:
    """How late the server's event loop ran its timers, its collector's pauses, how long it held
    TransactionEvents, and its journal's syncs, as /metrics has them now. The request costs the
    server a REST request at the marks only."""
    request = urllib.request.Request(f"http://{HOST}:{rest_port}/metrics",
                                     headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    found: dict[str, dict[float, float]] = {kind: {} for kind in (*_HISTOGRAMS.values(), *_COUNTERS.values())}
    for line in text.splitlines():
        name, _, rest = line.partition("{")
        if name in _HISTOGRAMS:
            labels, _, count = rest.rpartition("} ")
            if name in _ONLY and _ONLY[name] not in labels:
                continue
            bound = float(labels.rpartition('le="')[2].rstrip('"'))
            histogram = found[_HISTOGRAMS[name]]
            histogram[bound] = histogram.get(bound, 0.0) + float(count)
        name, _, count = line.partition(" ")
        if name in _COUNTERS:
            found[_COUNTERS[name]][0.0] = float(count)
    return found


def _bucket_of(counts: list[tuple[float, float]], count: float) -> str:
    bound = next(bound for bound, seen in counts if seen >= count)
    return "over the last bound" if bound == float("inf") else f"<= {1000 * bound:g} ms"


def _spread(counts: list[tuple[float, float]], share: float = 0.99) -> str:
    """The buckets holding the median, the ``share`` quantile and the longest."""
    total = counts[-1][1]
    return (f"median {_bucket_of(counts, 0.5 * total)}, p{100 * share:g} {_bucket_of(counts, share * total)}, "
            f"longest {_bucket_of(counts, total)}")


def delays_between(start: dict[str, dict[float, float]], end: dict[str, dict[float, float]]) -> str:
    """What the server's timers waited between two readings (the buckets holding the median and
    the longest: four probes a second are too few for a 99th percentile), the collector's pauses
    meanwhile, how long the server held a TransactionEvent (its frame read to its answer written),
    and the journal's syncs (PostgreSQL: what an Updated event's answer waits for)."""
    def counts(kind: str) -> list[tuple[float, float]]:
        return sorted((bound, seen - start[kind].get(bound, 0.0)) for bound, seen in end[kind].items())

    loop, pauses, syncs, waits, held = counts("loop"), counts("gc"), counts("sync"), counts("wait"), counts("held")
    probes = loop[-1][1] if loop else 0.0
    text = (f"median {_bucket_of(loop, 0.5 * probes)}, longest {_bucket_of(loop, probes)} ({probes:.0f} probes)"
            if probes else "no probe")
    if held and held[-1][1]:
        text += f"; an event held in the server from its frame read to its answer written {_spread(held)}"
    collections = pauses[-1][1] if pauses else 0.0
    text += (f"; {collections:.0f} collector pauses, the longest {_bucket_of(pauses, collections)}"
             if collections else "; no collector pause")
    synced = syncs[-1][1] if syncs else 0.0
    if synced:
        answers = counts("answers")[0][1]
        text += (f"; {synced:.0f} journal syncs, {answers / synced:.2f} answers each, a sync taking "
                 f"{_spread(syncs)}; an answer waiting for its sync {_spread(waits)}")
    return text


class Load:
    """The load generator process, driven one command at a time."""

    def __init__(self, target: dict, cpu: int | None, server_pid: int,
                 probe: Callable[[], dict[str, dict[float, float]]] | None = None) -> None:
        """``probe``: read at each of the load generator's marks too (``probed``, by mark)."""
        self._server_pid = server_pid
        self._probe = probe
        self.probed: dict[str, dict[str, dict[float, float]]] = {}
        self.process = subprocess.Popen(
            pinned(cpu, [sys.executable, str(ROOT / "scripts" / "gateway_load.py"), json.dumps(target)]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(self, cmd: str, **arguments) -> tuple[dict, dict]:
        """(result, marks): marks are server and load-generator CPU seconds sampled at the
        load generator's steady_start/steady_end events."""
        self.send(cmd, **arguments)
        return self.result(cmd)

    def send(self, cmd: str, **arguments) -> None:
        """Start ``cmd`` without waiting (several generators at once); ``result`` collects it."""
        print(f"[{time.strftime('%H:%M:%S')}] {cmd} (server pid {self._server_pid})", file=sys.stderr, flush=True)
        self.process.stdin.write(json.dumps({"cmd": cmd, **arguments}) + "\n")
        self.process.stdin.flush()

    def result(self, cmd: str) -> tuple[dict, dict]:
        marks: dict[str, tuple[float, float, float]] = {}
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise SystemExit(f"load generator died during {cmd}")
            message = json.loads(line)
            if "event" in message:
                # The server's helpers included (the journal's sync: storage/sync_process.py).
                at, server = time.perf_counter(), tree_pids(self._server_pid)
                marks[message["event"]] = (at, pids_cpu(server), cpu_seconds(self.process.pid),
                                           stolen_seconds(), sum(map(context_switches, server)),
                                           pids_cpu(log_writer_pids(server)))
                if self._probe is not None:
                    self.probed[message["event"]] = self._probe()
                continue
            return message["result"], marks

    def quit(self) -> None:
        quit_generators([self.process])


class Steady(NamedTuple):
    """A phase's steady part, between the load generator's marks."""

    wall: float      # seconds
    server: float    # server CPU seconds
    load: float      # load-generator CPU seconds
    stolen: float    # share of the machine's CPU time (all cores) stolen by the hypervisor meanwhile
    switches: int    # the server's context switches, every thread's, its helper processes' too
    # Of ``server``: the message log's writer process (0 with the log off or on a thread). It writes
    # a batch every 5 s or 8,000 frames: a 10-s phase holds two or three, read it over rounds.
    log_writer: float


def steady(marks: dict) -> Steady:
    (t0, s0, c0, st0, x0, w0), (t1, s1, c1, st1, x1, w1) = marks["steady_start"], marks["steady_end"]
    return Steady(t1 - t0, s1 - s0, c1 - c0, (st1 - st0) / max(1e-9, (t1 - t0) * (os.cpu_count() or 1)), x1 - x0,
                  w1 - w0)


def log_writer_note(phase: Steady, messages: int) -> str:
    if phase.log_writer <= 0:
        return ""
    return (f"; of it the message log's writer process {1e6 * phase.log_writer / max(1, messages):.0f} µs "
            f"({100 * phase.log_writer / max(phase.server, 1e-9):.1f} %)")


def stolen_note(phase: Steady) -> str:
    return f"; {100 * phase.stolen:.0f} % of the machine's CPU time stolen meanwhile" if phase.stolen >= 0.005 else ""


def settle_rss(pid: int, seconds: float = 2.0) -> int:
    time.sleep(seconds)
    return rss_kib(pid)


# --- the run --------------------------------------------------------------------------------


def run(args: argparse.Namespace, workdir: Path) -> list[str]:
    out: list[str] = []
    say = out.append
    started = time.perf_counter()
    data, certs = prepare(workdir, args)
    setup_seconds = time.perf_counter() - started
    cores = os.cpu_count() or 1
    server_cpu, client_cpu = (0, 1) if cores >= 2 and shutil.which("taskset") and not args.no_pin else (None, None)
    if server_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    load_before = os.getloadavg()
    set_policy(data, message_log=args.message_log == "on")
    server = start_server(data, server_cpu, workdir / "server.log", args.profile_out, extra_env=dict(args.server_env))
    target = dict(host=HOST, ws_port=server.ws_port, wss_port=server.wss_port, fqdn=FQDN,
                  root=str(workdir / "root.pem"), cert_dir=str(certs), password=PASSWORD)
    token = (workdir / METRICS_TOKEN).read_text()
    load = Load(target, client_cpu, server.pid, probe=lambda: server_delays(server.rest_port, token))
    pid = server.pid
    try:
        ids3 = sp3_ids(sp3_count(args))
        warm = ids3[:args.warmup]
        fleet = ids3[args.warmup:args.warmup + args.stations]
        extra = ids3[args.warmup + args.stations:args.warmup + 2 * args.stations]

        prepared, _ = load.run("prepare_tls", identities=ids3)
        # Warm-up: first handshakes, imports, allocator arenas; stays connected.
        load.run("connect", identities=warm, profile=3, concurrency=50, boot=True, heartbeat=True, keep=True,
                 timeout=30)
        if args.only_charging:
            load.run("connect", identities=fleet, profile=3, concurrency=args.storm_concurrency, boot=True,
                     heartbeat=True, keep=True, timeout=60)
            heartbeats = heartbeat_phases(load, args)
            charging = charging_phase(load, data, args)
            return [f"machine: {cores} cores, Python {platform.python_version()}, {_database(args)}",
                    f"parameters: --stations {args.stations} --rate {args.rate} --charging-rate {args.charging_rate} "
                    f"--seconds {args.seconds} --repeat {args.repeat}{_settings_given(args)}",
                    _heartbeat_lines(heartbeats, len(warm) + len(fleet), args),
                    _charging_lines(charging, heartbeats, len(warm) + len(fleet), args)]

        # 1. profile 2: first connects, then reconnects of the same stations. Also grows the
        #    worker threads' malloc arenas to argon2's size before any memory is measured.
        first, _ = load.run("connect", identities=sp2_ids(args.sp2), profile=2, concurrency=args.sp2_concurrency,
                            boot=False, heartbeat=False, keep=False, timeout=60)
        again, _ = load.run("connect", identities=sp2_ids(args.sp2), profile=2, concurrency=args.sp2_concurrency,
                            boot=False, heartbeat=False, keep=False, timeout=60)
        # The plain-ws stations' first connects: their passwords checked (argon2) here, so that the
        # memory phase below sees no argon2 arena growth, only connections.
        load.run("connect", identities=sp1_ids(args.plain), profile=1, concurrency=args.sp2_concurrency,
                 boot=False, heartbeat=False, keep=False, timeout=60)

        # 2. profile 3 connects/s, then memory per idle connection: the slope of RSS over a second
        #    batch of connections (the first one also refills memory that earlier phases freed).
        cpu0, load_cpu0 = cpu_seconds(pid), cpu_seconds(load.process.pid)
        sp3, _ = load.run("connect", identities=fleet, profile=3, concurrency=args.storm_concurrency, boot=False,
                          heartbeat=False, keep=True, timeout=60)
        sp3_cpu, sp3_load_cpu = cpu_seconds(pid) - cpu0, cpu_seconds(load.process.pid) - load_cpu0
        booted, _ = load.run("boot_open", concurrency=args.storm_concurrency)
        rss0 = settle_rss(pid)
        sp3_more, _ = load.run("connect", identities=extra, profile=3, concurrency=args.storm_concurrency,
                               boot=True, heartbeat=True, keep=True, timeout=60)
        rss1 = settle_rss(pid)
        # 3. plain ws memory, the same way, before anything is closed and freed (reconnects: a
        #    server without the password cache would run argon2 here and grow its arenas).
        plain, _ = load.run("connect", identities=sp1_ids(args.plain), profile=1, concurrency=20, boot=True,
                            heartbeat=True, keep=True, timeout=60)
        rss2 = settle_rss(pid)
        load.run("close", identities=extra + sp1_ids(args.plain))

        # 4. Heartbeat round trip at --rate with --stations connected, server CPU per message;
        # 5. capacity.
        heartbeats = heartbeat_phases(load, args)
        # 4b. charging: a transaction per station, TransactionEvent Updated at --rate.
        charging = charging_phase(load, data, args)
        load.run("close_all")
        time.sleep(2)

        # 6. boot storm.
        storm = boot_storm(load, pid, ids3[:args.storm], args)
    finally:
        load.quit()
        stop_server(server)
    # 7. phases 4-6 again, against the bare reference server on the same core, right after.
    reference = bare_heartbeats = None
    if not args.no_reference:
        bare = start_reference(workdir, server_cpu)
        bare_load = Load({**target, "wss_port": bare.wss_port}, client_cpu, bare.pid)
        try:
            bare_load.run("prepare_tls", identities=ids3[:args.storm])
            bare_load.run("connect", identities=warm, profile=3, concurrency=50, boot=True, heartbeat=True,
                          keep=False, timeout=30)
            bare_load.run("connect", identities=fleet, profile=3, concurrency=args.storm_concurrency, boot=True,
                          heartbeat=True, keep=True, timeout=60)
            bare_heartbeats = heartbeat_phases(bare_load, args)
            bare_load.run("close_all")
            time.sleep(2)
            reference = boot_storm(bare_load, bare.pid, ids3[:args.storm], args)
        finally:
            bare_load.quit()
            stop_server(bare)
    load_after = os.getloadavg()

    backlog = 4096
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    pin = (f"server pinned to CPU {server_cpu}, load generator to CPU {client_cpu} (taskset)"
           if server_cpu is not None else "not pinned")
    say(f"machine: {cores} cores, Python {platform.python_version()}, {ssl.OPENSSL_VERSION}, {_database(args)}; {pin}; "
        f"message log {args.message_log}")
    say(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
        f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} (others share this machine)")
    say(f"parameters: --stations {args.stations} --storm {args.storm} --storm-concurrency {args.storm_concurrency} "
        f"--sp2 {args.sp2} --sp2-concurrency {args.sp2_concurrency} --plain {args.plain} --rate {args.rate} "
        f"--seconds {args.seconds}{_settings_given(args)} (setup {setup_seconds:.0f} s)")
    say(f"wire: {sp3['tls']}, permessage-deflate offered by the stations; kernel somaxconn {somaxconn}, "
        f"listener backlog {backlog} (effective {min(backlog, somaxconn)})")
    say(f"profile 2 connects/s (TLS + Basic auth), {args.sp2} stations:  first connect {_rate(first):8.1f}/s"
        f"   reconnect {_rate(again):8.1f}/s   {_failures(first, again)}")
    say(f"profile 3 connects/s (TLS client certificate), {args.stations} stations, {args.storm_concurrency} in flight: "
        f"{_rate(sp3):8.1f}/s   server CPU {1000 * sp3_cpu / max(1, sp3['ok']):.2f} ms/connect "
        f"({_busy(sp3_cpu, sp3)}% busy, load generator {_busy(sp3_load_cpu, sp3)}%)   "
        f"{_failures(sp3, booted, sp3_more)}")
    say(_heartbeat_lines(heartbeats, len(fleet), args))
    say(_charging_lines(charging, heartbeats, len(fleet), args))
    if bare_heartbeats is not None:
        say(_heartbeat_lines(bare_heartbeats, len(fleet), args, label="reference: "))
    say(f"resident memory per idle connection (booted, one Heartbeat): profile 3 (wss, client certificate) "
        f"{(rss1 - rss0) / max(1, sp3_more['ok']):.1f} KiB (RSS {rss0 / 1024:.0f} -> {rss1 / 1024:.0f} MiB for "
        f"{sp3_more['ok']} more); plain ws {(rss2 - rss1) / max(1, plain['ok']):.1f} KiB "
        f"(RSS -> {rss2 / 1024:.0f} MiB for {plain['ok']} more)")
    say(_storm_line("boot storm", storm, args))
    if reference is not None:
        say(_storm_line("reference (bare ocpp-library server, no auth, no storage, same core)", reference, args))
    if reference is not None and reference.result["ok"] and storm.result["ok"]:
        say(f"boot storm relative to the reference: {storm.result['seconds'] / reference.result['seconds']:.2f}x "
            f"the wall time, {storm.cpu_per_station / reference.cpu_per_station:.2f}x the server CPU per station")
    return out


def message_log_cost(args: argparse.Namespace, workdir: Path) -> list[str]:
    """The Heartbeat phase and the boot storm with the message log off, then on, on fresh server
    processes over the same data; server CPU per message and per station, and the ratios."""
    data, certs = prepare(workdir, args)
    cores = os.cpu_count() or 1
    server_cpu, client_cpu = (0, 1) if cores >= 2 and shutil.which("taskset") and not args.no_pin else (None, None)
    if server_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    ids3 = sp3_ids(sp3_count(args))
    load_before = os.getloadavg()
    runs: dict[str, list[tuple[float, float, dict, Storm]]] = {"off": [], "on": []}
    logged = {"rows": 0, "dropped": 0}
    writer_shares: list[float] = []   # the log's writer process's share of the server's CPU, per 'on' round
    for round_no in range(args.repeat):
        for mode in ("off", "on"):
            set_policy(data, message_log=mode == "on")
            rows_before = _message_log_rows(data)
            measured = _fresh_server_round(data, certs, workdir, f"{mode}-{round_no}", ids3, args,
                                           (server_cpu, client_cpu))
            paced, (wall, server_s, *_), storm = measured.paced, measured.paced_steady, measured.storm
            runs[mode].append((server_s / max(1, paced["messages"]), server_s / wall, paced, storm))
            if mode == "on":
                writer_shares.append(measured.paced_steady.log_writer / max(server_s, 1e-9))
                logged["rows"] += _message_log_rows(data) - rows_before
                logged["dropped"] += _dropped_in_log(workdir / f"server-{mode}-{round_no}.log")
    load_after = os.getloadavg()

    def per_heartbeat(mode: str) -> list[float]:
        return [run[0] for run in runs[mode]]

    def per_station(mode: str) -> list[float]:
        return [run[3].cpu_per_station for run in runs[mode]]

    out = [f"machine: {cores} cores, Python {platform.python_version()}, {_database(args)}; load average before "
           f"{load_before[0]:.2f}, after {load_after[0]:.2f} (others share this machine)",
           f"parameters: --stations {args.stations} --rate {args.rate} --seconds {args.seconds} --storm {args.storm} "
           f"--storm-concurrency {args.storm_concurrency} --repeat {args.repeat} (rounds alternate off, on)"]
    for mode in ("off", "on"):
        for i, (per_msg, busy, paced, storm) in enumerate(runs[mode]):
            out.append(f"message log {mode:3} round {i + 1}: server CPU per Heartbeat {1e6 * per_msg:.0f} µs "
                       f"(core {100 * busy:.0f}% busy, p50 {paced['p50_ms']:.2f} ms, p99 {paced['p99_ms']:.2f} ms); "
                       f"boot storm {storm.result['ok']} booted in {storm.result['seconds']:.1f} s, "
                       f"{1000 * storm.cpu_per_station:.2f} ms server CPU/station, lost {storm.result['failed']}")
    for label, series, unit, scale in (("server CPU per Heartbeat", per_heartbeat, "µs", 1e6),
                                       ("boot storm server CPU per station", per_station, "ms", 1e3)):
        parts = []
        for name, pick in (("mean", statistics.fmean), ("median", statistics.median)):
            on, off = pick(series("on")), pick(series("off"))
            parts.append(f"{name} {scale * on:.2f} / {scale * off:.2f} {unit} = {on / max(off, 1e-12):.3f}x "
                         f"({100 * (on / max(off, 1e-12) - 1):+.1f} %)")
        out.append(f"message log on/off, {label}: {'; '.join(parts)} (target: <= +10 %)")
    out.append(f"frames the log wrote in the 'on' rounds: {logged['rows']}; dropped: {logged['dropped']}")
    if any(writer_shares):
        # Within each round, not between server processes: none of their drift in it. The event
        # loop's part (a frame queued, ~0.5 µs; the parts handed over) is not in it.
        out.append(f"the message log's writer process, in the 'on' rounds: "
                   f"{', '.join(f'{100 * share:.1f}' for share in writer_shares)} % of the server's CPU in the "
                   f"Heartbeat phase (mean {100 * statistics.fmean(writer_shares):.1f} %)")
    return out


@dataclass(frozen=True)
class Round:
    """One fresh server process measured: Heartbeats at --rate, optionally capacity, boot storm."""
    paced: dict
    paced_steady: Steady
    capacity: dict | None
    capacity_steady: Steady | None
    storm: Storm

    @property
    def cpu_per_heartbeat(self) -> float:
        return self.paced_steady[1] / max(1, self.paced["messages"])

    @property
    def cpu_per_capacity_message(self) -> float:
        return self.capacity_steady[1] / max(1, self.capacity["messages"])


def _fresh_server_round(data: Path, certs: Path, workdir: Path, label: str, ids3: list[str],
                        args: argparse.Namespace, cpus: tuple[int | None, int | None],
                        env: dict[str, str] | None = None, capacity: bool = False) -> Round:
    """Start a server on ``data`` (with ``env``), connect the warm-up and --stations fleet, measure
    the paced Heartbeats (and the closed-loop capacity), close them, run the boot storm, stop."""
    server_cpu, client_cpu = cpus
    warm, fleet = ids3[:args.warmup], ids3[args.warmup:args.warmup + args.stations]
    server = start_server(data, server_cpu, workdir / f"server-{label}.log", None, extra_env=env)
    target = dict(host=HOST, ws_port=server.ws_port, wss_port=server.wss_port, fqdn=FQDN,
                  root=str(workdir / "root.pem"), cert_dir=str(certs), password=PASSWORD)
    load = Load(target, client_cpu, server.pid)
    try:
        load.run("prepare_tls", identities=ids3[:max(args.storm, len(warm) + len(fleet))])
        load.run("connect", identities=warm, profile=3, concurrency=50, boot=True, heartbeat=True,
                 keep=True, timeout=30)
        load.run("connect", identities=fleet, profile=3, concurrency=args.storm_concurrency, boot=True,
                 heartbeat=True, keep=True, timeout=60)
        paced, marks = load.run("paced", rate=args.rate, seconds=args.seconds, warmup=2)
        closed, closed_steady = None, None
        if capacity:
            closed, cmarks = load.run("closed_loop", seconds=args.seconds, warmup=2)
            closed_steady = steady(cmarks)
        load.run("close_all")
        time.sleep(2)
        storm = boot_storm(load, server.pid, ids3[:args.storm], args)
    finally:
        load.quit()
        stop_server(server)  # the message log's writer flushes what it holds before the process ends
    return Round(paced, steady(marks), closed, closed_steady, storm)


# --- faster per core: uvloop and msgspec against the standard library, in one run -------------

# (label, server environment, the package it needs or None)
PER_CORE_VARIANTS = (
    ("asyncio + json", {"CHARGECA_EVENT_LOOP": "asyncio", "CHARGECA_JSON_CODEC": "stdlib"}, None),
    ("asyncio + msgspec", {"CHARGECA_EVENT_LOOP": "asyncio", "CHARGECA_JSON_CODEC": "msgspec"}, "msgspec"),
    ("uvloop + json", {"CHARGECA_EVENT_LOOP": "uvloop", "CHARGECA_JSON_CODEC": "stdlib"}, "uvloop"),
    ("uvloop + msgspec", {"CHARGECA_EVENT_LOOP": "uvloop", "CHARGECA_JSON_CODEC": "msgspec"}, "uvloop"),
)
ADOPT_GAIN = 0.10


def per_core(args: argparse.Namespace, workdir: Path) -> list[str]:
    """Each event loop / JSON codec pair on fresh server processes over the same data, --repeat
    rounds with the pairs in turn (so drift hits them alike): server CPU per Heartbeat at --rate,
    capacity (msg/s, CPU per message), boot-storm CPU per station; then each pair's median against
    the standard library's (first line), and whether it gains the 10 % that adoption asks."""
    import importlib.util

    data, certs = prepare(workdir, args)
    cores = os.cpu_count() or 1
    cpus = (0, 1) if cores >= 2 and shutil.which("taskset") and not args.no_pin else (None, None)
    if cpus[1] is not None:
        os.sched_setaffinity(0, {cpus[1]})
    set_policy(data, message_log=args.message_log != "off")
    variants = [v for v in PER_CORE_VARIANTS if v[2] is None or importlib.util.find_spec(v[2]) is not None]
    missing = sorted({v[2] for v in PER_CORE_VARIANTS if v not in variants})
    ids3 = sp3_ids(sp3_count(args))
    load_before = os.getloadavg()
    rounds: dict[str, list[Round]] = {label: [] for label, _, _ in variants}
    for round_no in range(args.repeat):
        for label, env, _ in variants:
            rounds[label].append(_fresh_server_round(data, certs, workdir, f"{label.replace(' + ', '-')}-{round_no}",
                                                     ids3, args, cpus, env, capacity=True))
    load_after = os.getloadavg()
    out = [f"machine: {cores} cores, Python {platform.python_version()}, {_database(args)}; load average before "
           f"{load_before[0]:.2f}, after {load_after[0]:.2f} (others share this machine)",
           f"parameters: --per-core --stations {args.stations} --rate {args.rate} --seconds {args.seconds} "
           f"--storm {args.storm} --storm-concurrency {args.storm_concurrency} --repeat {args.repeat} "
           f"--message-log {'off' if args.message_log == 'off' else 'on'} (the pairs in turn in every round)"]
    if missing:
        out.append(f"not measured (not installed): {', '.join(missing)}; pip install -c requirements.lock -e '.[fast]'")
    for label in rounds:
        for i, r in enumerate(rounds[label]):
            out.append(f"{label:17} round {i + 1}: {1e6 * r.cpu_per_heartbeat:.0f} µs CPU/Heartbeat at {args.rate}/s "
                       f"(p99 {r.paced['p99_ms']:.1f} ms); capacity {r.capacity['per_second']:.0f}/s at "
                       f"{1e6 * r.cpu_per_capacity_message:.0f} µs/msg; storm {r.storm.result['ok']} booted in "
                       f"{r.storm.result['seconds'] or 0:.1f} s at "
                       f"{1000 * r.storm.cpu_per_station:.2f} ms CPU/station, lost {r.storm.result['failed']}; "
                       f"errors {r.paced['errors'] + r.capacity['errors']}")
    base = rounds[variants[0][0]]
    metrics = (("CPU/Heartbeat", lambda r: r.cpu_per_heartbeat),
               ("capacity CPU/msg", lambda r: r.cpu_per_capacity_message),
               ("storm CPU/station", lambda r: r.storm.cpu_per_station))
    for label in list(rounds)[1:]:
        ratios = []
        for name, pick in metrics:
            ratio = statistics.median(pick(r) for r in rounds[label]) / max(statistics.median(pick(r) for r in base),
                                                                          1e-12)
            ratios.append((name, ratio))
        worst_gain = min(1 - ratio for _, ratio in ratios)
        verdict = "gains the 10 % bar" if worst_gain >= ADOPT_GAIN else "below the 10 % bar"
        out.append(f"{label} / {variants[0][0]} (medians): "
                   + "; ".join(f"{name} {ratio:.3f}x ({100 * (1 - ratio):+.1f} % gain)" for name, ratio in ratios)
                   + f" -> {verdict}")
    return out


# --- idle connections: resident memory per connection at fleet size --------------------------

# Sockets per load-generator process: under its descriptor limit and the ~28,000 ports of one
# source address.
IDLE_PER_GENERATOR = 15_000


def rss_total_kib(pids: list[int]) -> int:
    """Resident memory of the processes together (a server and what runs below it)."""
    return sum(rss_kib(pid) for pid in pids)


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def descriptor_room(connections: int, reserve: int = 1024) -> str | None:
    """Why this process's children cannot hold ``connections`` sockets, or None. A server process
    needs one descriptor per connection plus the policy's reserve; the hard limit is what an
    unprivileged process can raise its soft limit to (connection_limits.ensure_descriptor_limit)."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and connections + reserve > hard:
        return (f"--idle {connections} needs {connections + reserve} file descriptors in one server process "
                f"(connections + [admission] file_descriptor_reserve {reserve}), but the hard RLIMIT_NOFILE here is "
                f"{hard} (ulimit -Hn; raising it needs CAP_SYS_RESOURCE): at most {hard - reserve} per server "
                f"process; hold more across several worker processes")
    return None


def idle_connections(args: argparse.Namespace, workdir: Path) -> list[str]:
    """--idle N profile-3 stations connect (TLS with client certificates), boot, send one
    Heartbeat and go quiet, from several load-generator processes bound to their own loopback
    source addresses; the servers' resident memory per connection (RSS growth / N) after they
    held the connections through a keepalive round (--idle-hold seconds)."""
    count, workers = args.idle, args.workers or 1
    if workers > 1 and not args.database_url:
        raise SystemExit("--idle with --workers needs --database-url postgresql://…/db: "
                         "several workers need PostgreSQL")
    # Each worker holds its share (SO_REUSEPORT spreads connections by a hash of their addresses:
    # nearly, not exactly, even), with room for the spread and the warm-up.
    per_worker = count + args.warmup + 100 if workers == 1 else -(-(count + args.warmup) // workers) + 1000
    refusal = descriptor_room(per_worker)
    if refusal:
        raise SystemExit(f"bench_gateway: {refusal}")
    data, certs = prepare(workdir, args)
    cores = os.cpu_count() or 1
    pin = cores >= 2 and shutil.which("taskset") and not args.no_pin and workers == 1
    server_cpu, client_cpu = (0, 1) if pin else (None, None)
    if server_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    set_policy(data, message_log=args.message_log != "off", connections=per_worker)
    log = workdir / "server.log"
    if workers == 1:
        server = start_server(data, server_cpu, log, None)
    else:
        server = start_server(data, None, log, None, serve_args=("--workers", str(workers)),
                              extra_env={"CHARGECA_NATS_URL": NATS_URL, "CHARGECA_NODE_ID": "bench"})
        _wait_running(server, workers)
    return _hold_idle(args, workdir, certs, server, (server_cpu, client_cpu))


def _wait_running(server: Server, workers: int) -> None:
    deadline = time.monotonic() + 120
    while "ChargeCA is running." not in server.log.read_text():   # every worker listens
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server with {workers} workers did not start:\n{server.log.read_text()}")
        time.sleep(0.2)


def _hold_idle(args: argparse.Namespace, workdir: Path, certs: Path, server: Server,
               cpus: tuple[int | None, int | None]) -> list[str]:
    """The idle measurement against the running ``server`` (one process, or a supervisor and its
    workers sharing the ports: memory and descriptors are summed over its process tree); stops it
    at the end."""
    count = args.idle
    pids = tree_pids(server.pid)
    ids3 = sp3_ids(sp3_count(args))
    warm, fleet = ids3[:args.warmup], ids3[args.warmup:]
    generators = max(1, -(-count // args.idle_per_generator))
    sources = [f"127.0.0.{2 + i}" for i in range(generators)]
    loads = [Load(dict(host=HOST, ws_port=server.ws_port, wss_port=server.wss_port, fqdn=FQDN,
                       root=str(workdir / "root.pem"), cert_dir=str(certs), password=PASSWORD, source=source),
                  cpus[1], server.pid) for source in sources]
    shares = [fleet[i::generators] for i in range(generators)]
    load_before = os.getloadavg()
    try:
        for load, share in zip(loads, shares):
            load.send("prepare_tls", identities=share + (warm if load is loads[0] else []))
        for load in loads:
            load.result("prepare_tls")
        # Warm-up: first handshakes, imports, allocator arenas; stays connected, not counted.
        loads[0].run("connect", identities=warm, profile=3, concurrency=50, boot=True, heartbeat=True, keep=True,
                     timeout=30)
        time.sleep(2)
        before = rss_total_kib(pids)
        started = time.perf_counter()
        cpu0 = sum(cpu_seconds(pid) for pid in pids)
        for load, share in zip(loads, shares):
            load.send("connect", identities=share, profile=3, concurrency=args.storm_concurrency, boot=True,
                      heartbeat=True, keep=True, timeout=120)
        results = [load.result("connect")[0] for load in loads]
        connect_seconds = time.perf_counter() - started
        connect_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
        connected = rss_total_kib(pids)
        for load in loads:
            load.send("hold", seconds=args.idle_hold)
        held = [load.result("hold")[0] for load in loads]
        after = rss_total_kib(pids)
        descriptors = sum(open_descriptors(pid) for pid in pids)
        generator_rss = sum(rss_kib(load.process.pid) for load in loads)
    finally:
        for load in loads:
            load.quit()
        stop_server(server)
    load_after = os.getloadavg()
    booted = sum(r["ok"] for r in results)
    still_open = sum(h["open"] for h in held)
    per_connection = (after - before) / max(1, booted)
    return [
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {_database(args)}; load average before "
        f"{load_before[0]:.2f}, after {load_after[0]:.2f} (others share this machine)",
        f"parameters: --idle {count} --idle-hold {args.idle_hold} --storm-concurrency {args.storm_concurrency} per "
        f"generator --message-log {'off' if args.message_log == 'off' else 'on'} --workers {args.workers or 1}; "
        f"server process tree {pids}, {generators} load generator(s) from {', '.join(sources)}",
        f"idle profile-3 connections: {booted}/{count} connected, booted and sent a Heartbeat in "
        f"{connect_seconds:.0f} s ({booted / max(connect_seconds, 1e-9):.0f}/s, server CPU "
        f"{1000 * connect_cpu / max(1, booted):.2f} ms each), {_failures(*results)}; after {args.idle_hold:.0f} s "
        f"quiet {still_open} of {count + len(warm)} (with the warm-up) still open; server descriptors "
        f"{descriptors}",
        f"server resident memory: {before / 1024:.0f} MiB with the {len(warm)} warm-up stations, "
        f"{connected / 1024:.0f} MiB once all connected, {after / 1024:.0f} MiB after the quiet hold; "
        f"per idle connection {per_connection:.1f} KiB (target <= 64 KiB: "
        f"{'met' if per_connection <= 64 else 'NOT met'}); load generators {generator_rss / 1024:.0f} MiB",
    ]


def _message_log_rows(data: Path) -> int:
    from sqlalchemy import text

    from storage.db import make_engine
    from storage.message_log import message_log_engine

    engine = make_engine(load_settings(data).database_url)
    try:
        # On SQLite the log has a file of its own beside the database.
        with message_log_engine(engine).connect() as connection:
            return connection.execute(text("SELECT count(*) FROM ocpp_message")).scalar_one()
    finally:
        engine.dispose()


def _dropped_in_log(log: Path) -> int:
    """Frames the log dropped (queue full, a station's allowance, failed writes), as the server's
    last word on its message log says at shutdown."""
    for line in reversed(log.read_text().splitlines()):
        if "message log: " in line and "frames written, dropped " in line:
            return sum(json.loads(line.split("frames written, dropped ", 1)[1]).values())
    return -1  # not found: the server did not stop cleanly


@dataclass(frozen=True)
class Heartbeats:
    paced: dict
    paced_steady: Steady
    capacity: dict
    capacity_steady: Steady


# A phase's result and its steady part.
Phase = tuple[dict, Steady]


@dataclass(frozen=True)
class Charging:
    # Per round: the charging phase, and the paced Heartbeat phase run just before it (None: the
    # run's own, round 1).
    rounds: list[tuple[dict, Steady, Phase | None]]
    sampled_values: int
    stored_values: int


def _database(args: argparse.Namespace) -> str:
    return "PostgreSQL" if args.database_url else "SQLite WAL"


def charging_phase(load: Load, data: Path, args: argparse.Namespace) -> Charging:
    """Every connected station runs a transaction; Updated events at --rate; then the meter values
    stored, counted in the server's database. With --repeat, rounds: before each round but the
    first, a paced Heartbeat phase, so that every round's CPU per TransactionEvent has a
    Heartbeat's measured next to it (this machine's speed drifts within minutes)."""
    rounds: list[tuple[dict, Steady, Phase | None]] = []
    sampled_values = 0
    for round_no in range(args.repeat):
        reference = load.run("paced", rate=args.rate, seconds=args.seconds, warmup=2) if round_no else None
        result, marks = load.run("charging", rate=args.charging_rate, seconds=args.seconds, warmup=2,
                                 begin=round_no == 0, finish=round_no == args.repeat - 1)
        if {"steady_start", "steady_end"} <= load.probed.keys():
            result["loop_delay"] = delays_between(load.probed["steady_start"], load.probed["steady_end"])
        sampled_values += result["sampled_values"]
        rounds.append((result, steady(marks), None if reference is None else (reference[0], steady(reference[1]))))
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(load_settings(data).database_url)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT coalesce(sum(sampled_count), 0) FROM meter_reading")).scalar_one()
    engine.dispose()
    return Charging(rounds, sampled_values, stored)


def _charging_lines(run: Charging, heartbeats: Heartbeats, connected: int, args: argparse.Namespace) -> str:
    lines, ratios, extras = [], [], []
    for round_no, (paced, phase, reference) in enumerate(run.rounds):
        wall, server_s = phase.wall, phase.server
        heartbeat, heartbeat_phase = reference or (heartbeats.paced, heartbeats.paced_steady)
        heartbeat_s = heartbeat_phase.server
        events = max(1, paced["messages"])
        per_event = server_s / events
        heartbeat_messages = max(1, heartbeat["messages"])
        per_heartbeat = heartbeat_s / heartbeat_messages
        ratios.append(per_event / max(per_heartbeat, 1e-9))
        extras.append(1e6 * (per_event - per_heartbeat))
        label = f"round {round_no + 1}: " if len(run.rounds) > 1 else ""
        lines += [
            f"{label}TransactionEvent Updated ({paced['measurands']} sampled values) round trip at "
            f"{args.charging_rate}/s with {connected} transactions: p50 {paced['p50_ms']:.2f} ms  "
            f"p99 {paced['p99_ms']:.2f} ms (target <= 10 ms)  max {paced['max_ms']:.1f} ms ({paced['messages']} "
            f"messages in {wall:.1f} s, skipped {paced['skipped']}, errors {paced['errors'] + paced['edge_errors']}"
            f"{stolen_note(phase)}); the server's event loop ran its timers late by "
            f"{paced.get('loop_delay', 'an unknown delay (not probed)')}",
            f"{label}server CPU per TransactionEvent (steady phase): {1e6 * per_event:.0f} µs = {ratios[-1]:.2f}x "
            f"a Heartbeat's ({1e6 * per_heartbeat:.0f} µs, the paced phase before it{stolen_note(heartbeat_phase)}; "
            f"target <= 2x), {extras[-1]:.0f} µs more than it; context switches {phase.switches / events:.2f} "
            f"a TransactionEvent, {heartbeat_phase.switches / heartbeat_messages:.2f} a Heartbeat"
            f"{log_writer_note(phase, events)}"]
    if len(ratios) > 1:
        lines.append(f"over {len(ratios)} rounds: {statistics.median(ratios):.2f}x a Heartbeat's (median; "
                     f"{min(ratios):.2f}-{max(ratios):.2f}x); {statistics.median(extras):.0f} µs more than a Heartbeat "
                     f"(median; {min(extras):.0f}-{max(extras):.0f})")
    lines.append(f"meter values: {run.sampled_values} sent and acknowledged, {run.stored_values} stored "
                 f"({'all' if run.stored_values == run.sampled_values else 'NOT all'} stored)")
    return "\n".join(lines)


def heartbeat_phases(load: Load, args: argparse.Namespace) -> Heartbeats:
    """Round trip at --rate with the connected stations, then every station sending on answer."""
    paced, marks = load.run("paced", rate=args.rate, seconds=args.seconds, warmup=2)
    capacity, cmarks = load.run("closed_loop", seconds=args.seconds, warmup=2)
    return Heartbeats(paced, steady(marks), capacity, steady(cmarks))


def _heartbeat_lines(run: Heartbeats, connected: int, args: argparse.Namespace, label: str = "") -> str:
    paced, (wall, server_s, *_), capacity, (cwall, cserver_s, cclient_s, *_) = (
        run.paced, run.paced_steady, run.capacity, run.capacity_steady)
    return "\n".join((
        f"{label}Heartbeat round trip at {args.rate}/s with {connected} profile-3 stations connected: "
        f"p50 {paced['p50_ms']:.2f} ms  p99 {paced['p99_ms']:.2f} ms  max {paced['max_ms']:.1f} ms "
        f"({paced['messages']} messages in {wall:.1f} s, skipped {paced['skipped']}, errors {paced['errors']})",
        f"{label}server CPU per Heartbeat (steady phase): {1e6 * server_s / max(1, paced['messages']):.0f} µs "
        f"(server core {100 * server_s / wall:.0f}% busy at {paced['messages'] / wall:.0f} msg/s"
        f"{stolen_note(run.paced_steady)}{log_writer_note(run.paced_steady, paced['messages'])})",
        f"{label}capacity (every station sends on answer): {capacity['per_second']:.0f} Heartbeats/s, "
        f"server CPU {100 * cserver_s / cwall:.0f}%, load generator CPU {100 * cclient_s / cwall:.0f}%, "
        f"{1e6 * cserver_s / max(1, capacity['messages']):.0f} µs server CPU/msg, errors {capacity['errors']}"))


@dataclass(frozen=True)
class Storm:
    result: dict
    server_cpu: float
    load_cpu: float
    overflows: int
    drops: int
    rss_kib: int

    @property
    def cpu_per_station(self) -> float:
        return self.server_cpu / max(1, self.result["ok"])


def boot_storm(load: Load, pid: int, identities: list[str], args: argparse.Namespace) -> Storm:
    """All ``identities`` connect on profile 3 and boot, --storm-concurrency handshakes in flight."""
    overflow0 = tcp_ext("ListenOverflows", "ListenDrops")
    cpu0, load_cpu0 = cpu_seconds(pid), cpu_seconds(load.process.pid)
    result, _ = load.run("connect", identities=identities, profile=3, concurrency=args.storm_concurrency,
                         boot=True, heartbeat=False, keep=True, timeout=60)
    server_cpu, load_cpu = cpu_seconds(pid) - cpu0, cpu_seconds(load.process.pid) - load_cpu0
    overflow1 = tcp_ext("ListenOverflows", "ListenDrops")
    storm = Storm(result, server_cpu, load_cpu, overflow1["ListenOverflows"] - overflow0["ListenOverflows"],
                  overflow1["ListenDrops"] - overflow0["ListenDrops"], rss_kib(pid))
    load.run("close_all")
    return storm


def _storm_line(label: str, storm: Storm, args: argparse.Namespace) -> str:
    result = storm.result
    if not result["ok"]:
        return f"{label}: no station booted; {result['failed']} failed {result['errors']}"
    return (f"{label}: {result['ok']}/{result['ok'] + result['failed']} profile-3 stations connected "
            f"and booted in {result['seconds']:.1f} s (all connected after {result['open_seconds']:.1f} s), "
            f"{args.storm_concurrency} handshakes in flight; server CPU {storm.server_cpu:.1f} s = "
            f"{1000 * storm.cpu_per_station:.2f} ms/station ({_busy(storm.server_cpu, result)}% busy, "
            f"load generator {_busy(storm.load_cpu, result)}%); "
            f"lost {result['failed']} {result['errors'] or ''}; ListenOverflows +{storm.overflows}, "
            f"ListenDrops +{storm.drops}; server RSS {storm.rss_kib / 1024:.0f} MiB")


def _busy(cpu: float, result: dict) -> int:
    return round(100 * cpu / result["seconds"]) if result["seconds"] else 0


def _rate(result: dict) -> float:
    return result["ok"] / result["seconds"] if result["seconds"] else 0.0


def _failures(*results: dict) -> str:
    failed = sum(r["failed"] for r in results)
    if not failed:
        return "0 failed"
    errors: dict = {}
    for r in results:
        errors.update(r["errors"])
    return f"{failed} failed {errors}"


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("CHARGECA_"):
        raise argparse.ArgumentTypeError(f"expected a CHARGECA_* variable as NAME=VALUE, not {text!r}")
    return name, value


def _settings_given(args: argparse.Namespace) -> str:
    return "".join(f" --server-env {name}={value}" for name, value in args.server_env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000, help="profile-3 stations kept connected (phases 2-4)")
    parser.add_argument("--storm", type=int, default=10000, help="profile-3 stations in the boot storm")
    parser.add_argument("--storm-concurrency", type=int, default=100, help="opening handshakes in flight")
    parser.add_argument("--sp2", type=int, default=150, help="profile-2 stations for connects/s")
    parser.add_argument("--sp2-concurrency", type=int, default=20)
    parser.add_argument("--plain", type=int, default=300, help="profile-1 (plain ws) stations for memory")
    parser.add_argument("--warmup", type=int, default=50, help="profile-3 stations connected before measuring")
    parser.add_argument("--rate", type=int, default=1000, help="Heartbeats per second in the latency phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each steady phase")
    parser.add_argument("--charging-rate", type=int, default=1000,
                        help="TransactionEvent Updated per second in the charging phase")
    parser.add_argument("--only-charging", action="store_true",
                        help="run only the Heartbeat reference phase and the charging phase")
    parser.add_argument("--database-url", help="the server's database (default: SQLite in the data directory); "
                                               "postgresql://…/db: a fresh database created beside db, dropped after")
    parser.add_argument("--no-reference", action="store_true", help="skip the storm against the bare reference server")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and load generator to cores")
    parser.add_argument("--profile-out", type=Path, help="run the server under cProfile, write the stats here")
    parser.add_argument("--server-env", type=_setting, action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the server of the main run (repeatable), e.g. "
                             "CHARGECA_OCPP_COMMIT_GATHER_MS=4 to compare settings run after run")
    parser.add_argument("--keep", type=Path, help="use this directory and keep it (server log, certificates)")
    parser.add_argument("--message-log", choices=("on", "off", "both"), default="on",
                        help="the OCPP message log on or off for the whole run; both: only its cost (Heartbeat "
                             "phase and boot storm, off then on, compared)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="with --message-log both: rounds of off, on; with --per-core: rounds of every pair; "
                             "with --workers: rounds of 1 worker, N workers; in the charging phase: rounds of "
                             "Heartbeats then TransactionEvents, each round's ratio from its own pair")
    parser.add_argument("--idle", type=int, default=0, metavar="N",
                        help="only idle connections: N profile-3 stations connect, boot and go quiet (several load "
                             "generators, source addresses 127.0.0.2, …); server RSS per connection")
    parser.add_argument("--idle-hold", type=float, default=40.0,
                        help="with --idle: seconds the connections stay quiet before memory is read (a keepalive "
                             "ping round is 30 s)")
    parser.add_argument("--idle-per-generator", type=int, default=IDLE_PER_GENERATOR,
                        help="with --idle: connections per load-generator process (each has its source address)")
    parser.add_argument("--per-core", action="store_true",
                        help="only the event loop / JSON codec comparison (asyncio or uvloop, json or msgspec): "
                             "Heartbeat CPU, capacity and boot storm on fresh servers, ratios to asyncio + json")
    parser.add_argument("--workers", type=int, help="only the scaling over cores: the profile-3 boot storm (--storm "
                                                    "stations) and Heartbeat capacity with 1 worker, then N "
                                                    "(`chargeca serve --workers N`), and the ratio; needs "
                                                    "--database-url (see workers_scaling); with --idle: "
                                                    "the idle connections held by N workers")
    parser.add_argument("--generators", type=int, default=2, help="with --workers: load generator processes")
    args = parser.parse_args()
    with scratch_database(args.database_url) as args.database_url:
        if args.database_url:
            os.environ["CHARGECA_DATABASE_URL"] = args.database_url  # read by prepare() and the server
        measure(args)


def measure(args: argparse.Namespace) -> None:
    what = (idle_connections if args.idle else per_core if args.per_core else workers_scaling if args.workers
            else message_log_cost if args.message_log == "both" else run)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        lines = what(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
            lines = what(args, Path(tmp))
    print("\n".join(lines))


# --- --workers N: scaling over the cores of this machine ---------------------------------------
#
# The same server (`chargeca serve` on PostgreSQL) with 1 worker, then N; the profile-3 boot storm
# and the Heartbeat capacity of each, and the ratios. With 1 worker the server is pinned to CPU 0
# and the load generators to CPU 1, as in the main run; with N nothing is pinned: the workers and
# the generators share every core, so the generators are the cheapest we can make
# (scripts/gateway_load_lean.py) and their share of the CPU is printed beside each figure.
# PostgreSQL runs on the same cores too (its CPU is not counted in the server's).

NATS_URL = "nats://127.0.0.1:4222"   # several workers need a message bus configured (api/workers.py)


class LeanLoad:
    """Several scripts/gateway_load_lean.py processes, each with a slice of the stations, driven
    together: every command goes to all of them and the answers come back as a list."""

    def __init__(self, target: dict, count: int, cpu: int | None) -> None:
        config = json.dumps(dict(host=HOST, port=target["wss_port"], fqdn=FQDN, root=target["root"],
                                 cert_dir=target["cert_dir"]))
        self.processes = [subprocess.Popen(pinned(cpu, [sys.executable, str(ROOT / "scripts" / "gateway_load_lean.py"),
                                                        config]), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           text=True, bufsize=1) for _ in range(count)]

    def slices(self, identities: list[str]) -> list[list[str]]:
        return [identities[i::len(self.processes)] for i in range(len(self.processes))]

    def run(self, cmd: str, per_process: list[dict] | None = None, **arguments) -> list[dict]:
        print(f"[{time.strftime('%H:%M:%S')}] lean {cmd}", file=sys.stderr, flush=True)
        for i, process in enumerate(self.processes):
            process.stdin.write(json.dumps({"cmd": cmd, **arguments, **(per_process[i] if per_process else {})}) + "\n")
            process.stdin.flush()
        answers = []
        for process in self.processes:
            line = process.stdout.readline()
            if not line:
                raise SystemExit(f"a load generator died during {cmd}")
            answers.append(json.loads(line))
        return answers

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def quit(self) -> None:
        quit_generators(self.processes)


def quit_generators(processes: list[subprocess.Popen]) -> None:
    """Ask each load generator to quit, then wait for it (killed after 30 s). One that died
    meanwhile refuses the request with a broken pipe: it only needs reaping, and whoever called
    this (a ``finally``) must go on to stop the server, or the server outlives the benchmark."""
    for process in processes:
        if process.poll() is None:
            try:
                process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                process.stdin.flush()
            except OSError:
                pass
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tree_pids(root: int) -> list[int]:
    """``root`` and every process below it (a supervisor, its workers, their file services)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


# The message log's writer process (api/ocpp/message_log/writer_process.py), told by its command line.
_LOG_WRITER = b"message_log.writer_helper"


def log_writer_pids(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            if _LOG_WRITER in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue  # ended meanwhile
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and every process below it."""
    return pids_cpu(tree_pids(root))


def pids_cpu(pids: list[int]) -> float:
    """CPU seconds of ``pids`` (those that ended meanwhile count nothing)."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
    return total


@dataclass(frozen=True)
class ScalingRound:
    workers: int
    storm_ok: int
    storm_failed: int
    storm_seconds: float
    storm_server_cpu: float
    storm_load_cpu: float
    heartbeats: int
    heartbeat_seconds: float
    heartbeat_server_cpu: float
    heartbeat_load_cpu: float
    errors: dict

    @property
    def storm_rate(self) -> float:
        return self.storm_ok / self.storm_seconds if self.storm_seconds else 0.0

    @property
    def heartbeat_rate(self) -> float:
        return self.heartbeats / self.heartbeat_seconds if self.heartbeat_seconds else 0.0


def scaling_round(workers: int, data: Path, certs: Path, workdir: Path, ids: list[str], warm: list[str],
                  args: argparse.Namespace) -> ScalingRound:
    pin = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") and not args.no_pin and workers == 1
    server_cpu, client_cpu = (0, 1) if pin else (None, None)
    log = workdir / f"server-w{workers}-{time.monotonic_ns()}.log"
    server = start_server(data, server_cpu, log, None, serve_args=("--workers", str(workers)),
                          extra_env={"CHARGECA_NATS_URL": NATS_URL, "CHARGECA_NODE_ID": "bench"})
    _wait_running(server, workers)
    target = dict(wss_port=server.wss_port, root=str(workdir / "root.pem"), cert_dir=str(certs))
    load = LeanLoad(target, args.generators, client_cpu)
    try:
        load.run("prepare", per_process=[{"identities": s} for s in load.slices(warm + ids)])
        per = max(1, args.storm_concurrency // args.generators)
        load.run("storm", per_process=[{"identities": s} for s in load.slices(warm)], concurrency=per, timeout=60)
        cpu0, load0 = tree_cpu(server.pid), sum(cpu_seconds(p) for p in load.pids)
        storm = load.run("storm", per_process=[{"identities": s} for s in load.slices(ids)], concurrency=per,
                         timeout=300)
        cpu1, load1 = tree_cpu(server.pid), sum(cpu_seconds(p) for p in load.pids)
        # The Heartbeat window: every generator counts the same --seconds after the same warm-up.
        beats = load.run("heartbeats", seconds=args.seconds, warmup=2.0)
        cpu2, load2 = tree_cpu(server.pid), sum(cpu_seconds(p) for p in load.pids)
        load.run("close")
    finally:
        load.quit()
        stop_server(server)
    errors: dict = {}
    for answer in storm + beats:
        for reason, count in answer["errors"].items():
            errors[reason] = errors.get(reason, 0) + count
    # CPU of the Heartbeat phase: its window plus warm-up and drain; scaled to the window.
    beat_wall = 2.0 + max(b["seconds"] for b in beats)
    window = max(b["seconds"] for b in beats)
    return ScalingRound(workers, sum(a["ok"] for a in storm), sum(a["failed"] for a in storm),
                        max(a["seconds"] for a in storm), cpu1 - cpu0, load1 - load0,
                        sum(b["messages"] for b in beats), window,
                        (cpu2 - cpu1) * window / beat_wall, (load2 - load1) * window / beat_wall, errors)


def workers_scaling(args: argparse.Namespace, workdir: Path) -> list[str]:
    """Boot storm and Heartbeat capacity with 1 worker and with --workers N, --repeat rounds alternating."""
    if not args.database_url:
        raise SystemExit("--workers needs --database-url postgresql://…/db: several workers need PostgreSQL")
    warm_count = 50 * args.generators
    args.stations, args.warmup = 0, warm_count + args.storm   # prepare() makes certificates for all of them
    args.storm = max(args.storm, 1)
    data, certs = prepare(workdir, args)
    every = sp3_ids(args.warmup)
    warm, ids = every[:warm_count], every[warm_count:]
    # Room for the warm-up and the storm at once: one worker alone holds them all (its default
    # 10,000 would refuse the last warm-up's worth, as connection.limit).
    set_policy(data, message_log=args.message_log != "off", connections=len(every))
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()
    rounds: list[ScalingRound] = []
    for _ in range(args.repeat):
        for workers in (1, args.workers):
            rounds.append(scaling_round(workers, data, certs, workdir, ids, warm, args))
    load_after = os.getloadavg()
    out = [f"machine: {cores} cores, Python {platform.python_version()}, {ssl.OPENSSL_VERSION}, PostgreSQL (same "
           f"cores, its CPU not counted below); message log {'off' if args.message_log == 'off' else 'on'}",
           f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, after "
           f"{load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} (others share this machine)",
           f"parameters: --workers {args.workers} --storm {len(ids)} (+{len(warm)} warm-up stations connected first) "
           f"--storm-concurrency {args.storm_concurrency} --seconds {args.seconds} --generators {args.generators} "
           f"--repeat {args.repeat}; 1 worker pinned to CPU 0 and the generators to CPU 1, "
           f"{args.workers} workers and the generators unpinned",
           "load generator: scripts/gateway_load_lean.py (selectors + non-blocking ssl sockets, frames encoded "
           "ahead, no permessage-deflate offered)"]
    for r in rounds:
        out.append(
            f"{r.workers} worker{'s' if r.workers > 1 else ' '}: boot storm {r.storm_ok}/{r.storm_ok + r.storm_failed} "
            f"profile-3 stations in {r.storm_seconds:.1f} s = {r.storm_rate:6.1f}/s "
            f"(server {100 * r.storm_server_cpu / r.storm_seconds:.0f}% of a core, "
            f"generators {100 * r.storm_load_cpu / r.storm_seconds:.0f}%, "
            f"{1000 * r.storm_server_cpu / max(1, r.storm_ok):.2f} ms server CPU/station); "
            f"Heartbeat capacity {r.heartbeat_rate:7.0f}/s with {r.storm_ok + len(warm)} stations (server "
            f"{100 * r.heartbeat_server_cpu / r.heartbeat_seconds:.0f}%, generators "
            f"{100 * r.heartbeat_load_cpu / r.heartbeat_seconds:.0f}%, "
            f"{1e6 * r.heartbeat_server_cpu / max(1, r.heartbeats):.0f} µs server CPU/msg); errors {r.errors or 0}")
    ones = [r for r in rounds if r.workers == 1]
    many = [r for r in rounds if r.workers == args.workers]
    for label, pick in (("boot storm", lambda r: r.storm_rate), ("Heartbeat capacity", lambda r: r.heartbeat_rate)):
        one, n = statistics.median(map(pick, ones)), statistics.median(map(pick, many))
        out.append(f"{label}: {n:.1f}/s with {args.workers} workers vs {one:.1f}/s with 1 = {n / max(one, 1e-9):.2f}x "
                   f"(medians of {len(ones)} rounds; target >= 1.8x with 2 on 2 cores)")
    return out


if __name__ == "__main__":
    main()
