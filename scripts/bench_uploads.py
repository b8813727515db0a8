#!/usr/bin/env python3
"""Log uploads at fleet scale on this machine. Prints numbers; asserts nothing.

    .venv/bin/python scripts/bench_uploads.py [--stations 100] [--megabytes 10] [--watchers 20]

Starts a real ChargeCA server (`python -m api.cli serve`: REST, OCPP ws/wss, the HTTPS and FTP
file servers) on a fresh data directory with SQLite and a real PKI, on 127.0.0.1 only. Then:

1. --watchers other stations (a separate process, scripts/bench_uploads.py --watch) send one
   Heartbeat each every --interval s for the whole run and record each round trip;
2. idle: --idle seconds of those heartbeats alone;
3. for FTP, then HTTPS: --stations stations (simulated, profile 1) are each asked for a log at once
   (POST /api/v1/stations/{id}/logs) and upload --megabytes MB to the one-time location they get;
   done when every station has reported Uploaded or UploadFailure. Then every request is read back
   over REST: the file's size and the SHA-256 ChargeCA computed while receiving must equal the
   station's;
4. the heartbeat round trip p50/p99 of the watchers during each upload phase against idle: over
   the whole phase (the burst of 100 GetLog requests included) and over the uploads alone (from
   the last GetLog answer to the last Uploaded), and the slowest moments of the uploads, each
   with how busy the server's core and the load's were meanwhile (a small sampler process reading
   /proc/stat).

With two or more cores the server (its OCPP process and its file-service child) is pinned to CPU
0, the uploading stations and the watchers to CPU 1, as remote stations would not share the
server's core; the uploading stations (this process: their TLS and hashing) run at nice 5 and,
on Linux, in the SCHED_IDLE class, so that the watchers measure the server's latency rather than
this process's: at nice 5 alone a watcher woken by its answer still waited for the uploaders'
slice on CPU 1 (its p50 rose from 0.6 to 1.4 ms during the uploads; with SCHED_IDLE, to 0.7–1.3 ms).
They hand their sockets 16 KiB at a time (--write-kib, the simulator's default): on loopback the
receiving side's TCP work runs in the sender's system call, and a 256 KiB write kept CPU 1 in the
kernel, where no scheduling class makes it yield, long enough to hold the watchers up (four
alternating pairs of runs, 2026-12-06: the watchers' p99 during the uploads within 2x of idle in 7
of 8 measures with 16 KiB writes, 3 of 8 with 256 KiB).
Remote stations would not share the watchers' core at all, so the watchers run in the SCHED_FIFO
class where the kernel allows it (``realtime``): even then, beside the uploaders in SCHED_IDLE, the
longest-held heartbeats had been answered by the server within a millisecond and then waited for
the load's core. The server's answer carries its time (Heartbeat currentTime, to the millisecond),
which splits each round trip into the wait up to the server's answer and after it: the script
prints that split for the slowest 1% and for each slowest moment. On a shared machine the numbers
move with the neighbours' load.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_gateway import HOST, _accepts, free_port  # the same server start-up checks

from simulator.file_transfer import WRITE_SIZE  # noqa: E402

PASSPHRASE = "bench-uploads-passphrase-0123456789"
PASSWORD = "BenchUploadsPassword-0123"
# With two cores or more: the server's processes on one, the watchers and the uploading stations
# on another.
PINNED = (os.cpu_count() or 1) >= 2
SERVER_CPU, LOAD_CPU = 0, 1


def free_range(count: int) -> str:
    """``count`` consecutive ports that are free now (for FTP passive data connections)."""
    for start in range(40000, 60000, count):
        try:
            sockets = []
            for port in range(start, start + count):
                sock = socket.socket()
                sockets.append(sock)
                # As the FTP server binds them: a port whose earlier connections wait in TIME_WAIT
                # (thousands, after a benchmark) is free for a listener.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((HOST, port))
            return f"{start}-{start + count - 1}"
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise SystemExit("no free port range")


def uploader_ids(count: int) -> list[str]:
    return [f"UP-{i:04d}" for i in range(count)]


def watcher_ids(count: int) -> list[str]:
    return [f"HB-{i:04d}" for i in range(count)]


def prepare(data: Path, args: argparse.Namespace) -> str:
    """PKI, stations and an officer token in a fresh data directory; the token."""
    from api.core.audit import Actor
    from api.core.context import open_context
    from api.core.credentials import hash_secret
    from api.core.settings import load_settings
    from api.operations.tokens import create_token
    from pki.authorities import init_pki
    from storage.db import session_scope
    from storage.stations import Station

    os.environ["CHARGECA_KEY_PASSPHRASE"] = PASSPHRASE
    ctx = open_context(load_settings(data))
    with session_scope(ctx.engine) as session:
        hierarchy = init_pki(session, ctx.keystore, organization="Bench Uploads", fqdn="csms.bench",
                             policy=ctx.policy, urls=ctx.urls, extra_names=(HOST,))
    (data / "root.pem").write_text(hierarchy.root.record.certificate_pem)
    pace = "" if args.pace is None else f"max_megabytes_per_second = {args.pace}\n"
    (data / "policy.toml").write_text(f"[file_transfer]\nftp_enabled = true\nmax_connections = 400\n{pace}")
    password_hash = hash_secret(PASSWORD)
    with session_scope(ctx.engine) as session:
        session.add_all(Station(id=i, security_profile=1, password_hash=password_hash)
                        for i in uploader_ids(args.stations) + watcher_ids(args.watchers))
    return create_token(ctx, Actor("bench"), "officer", "bench").token


def start_server(data: Path, ports: dict[str, int], passive: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGECA_")}
    env.update(PYTHONUNBUFFERED="1", CHARGECA_DATA=str(data), CHARGECA_KEY_PASSPHRASE=PASSPHRASE,
               CHARGECA_REST_PORT=str(ports["rest"]), CHARGECA_OCPP_HOST=HOST,
               CHARGECA_OCPP_WS_PORT=str(ports["ws"]), CHARGECA_OCPP_WSS_PORT=str(ports["wss"]),
               CHARGECA_FILES_HTTPS_PORT=str(ports["https"]), CHARGECA_FTP_PORT=str(ports["ftp"]),
               CHARGECA_FTP_PASSIVE_PORTS=passive, CHARGECA_FILES_PUBLIC_NAME=HOST)
    command = pinned(SERVER_CPU, [sys.executable, "-m", "api.cli", "serve", "--no-dev-init"])
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early:\n{log.read_text()}")
        if all(_accepts(port) for port in ports.values()):
            return process
        time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start in time")


def pinned(cpu: int, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if PINNED else command


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- the watchers' process ----------------------------------------------------------------------

def realtime() -> str:
    """The watchers in the SCHED_FIFO class, where the kernel allows it: a waking watcher then
    takes the load's core at once, even from the uploading stations' system calls, as a remote
    station on a machine of its own would find its core free. Without it, the heartbeats held
    longest were answered by the server within a millisecond and then waited for the load's
    core (2026-12-07: FTP p99 5.5 ms, 3.95x idle, its slowest 1% waiting a median 5.5 ms after
    the server's answer). The server's own side of the round trip is unchanged: it runs on the
    other core. Says which class the watchers run in."""
    if not hasattr(os, "sched_setscheduler"):
        return "normal (no SCHED_FIFO here)"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except OSError as exc:
        return f"normal (SCHED_FIFO refused: {exc})"
    return "SCHED_FIFO"


async def watch(ws_url: str, ids: list[str], interval: float, out: Path) -> None:
    from quiet_collector import collector_paused

    from simulator.station import SimulatedStation

    stations = [SimulatedStation(i, f"{ws_url}/{i}", profile=1, password=PASSWORD, call_timeout=30) for i in ids]
    for station in stations:
        await station.connect()
        await station.boot()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    samples: list[tuple[float, float]] = []

    async def beat(station: SimulatedStation, offset: float) -> None:
        await asyncio.sleep(offset)
        while not stop.is_set():
            sent = time.time()
            start = time.perf_counter()
            answer = await station.heartbeat()
            samples.append((sent, time.perf_counter() - start, answered_at(answer)))
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - start)))

    (out.parent / "watch.ready").write_text(realtime())
    with collector_paused():   # the watchers' own pauses are not the server's latency
        tasks = [asyncio.create_task(beat(s, n * interval / len(stations))) for n, s in enumerate(stations)]
        await stop.wait()
        for task in tasks:
            task.cancel()
    out.write_text(json.dumps(samples))


def answered_at(answer: dict) -> float | None:
    """When the server answered a Heartbeat (its currentTime, to the millisecond; the same
    machine's clock), as a Unix time; None if it is not a dateTime."""
    try:
        return datetime.fromisoformat(answer["currentTime"].replace("Z", "+00:00")).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def up_to_answer(sent: float, answered: float) -> float:
    """Milliseconds from a Heartbeat's sending to the server's answer (its stamp is truncated to
    the millisecond, so a quick answer may seem to precede its request: 0 then)."""
    return max(0.0, answered - sent) * 1000


# --- the cores' time ----------------------------------------------------------------------------

SAMPLE_EVERY = 0.005


def sample_cores(out: Path) -> None:
    """Until SIGTERM: each core's busy, niced, total and stolen time (/proc/stat, in clock ticks)
    every 5 ms, as (time, [[busy, niced, total, stolen] per core]); niced is the part of busy
    that ran at a positive nice value in user mode (the file process's transfers on the server's
    core, the uploading stations on the other); stolen, the time the hypervisor gave to other
    guests, is not busy (none of ours ran). A process of its own, on neither core in particular: it
    must not share the watchers' event loop, nor starve with the uploading stations."""
    stop = False

    def stopping(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, stopping)
    rows: list[tuple[float, list[list[int]]]] = []
    while not stop:
        cores = []
        with open("/proc/stat") as stat:
            for text in stat:
                if text.startswith("cpu") and not text.startswith("cpu "):
                    ticks = [int(v) for v in text.split()[1:9]]
                    # ticks: user nice system idle iowait irq softirq steal
                    cores.append([sum(ticks) - ticks[3] - ticks[4] - ticks[7], ticks[1], sum(ticks), ticks[7]])
        rows.append((time.time(), cores))
        time.sleep(SAMPLE_EVERY)
    out.write_text(json.dumps(rows))


def start_sampler(out: Path) -> subprocess.Popen | None:
    if not PINNED or not Path("/proc/stat").exists():
        return None
    return subprocess.Popen([sys.executable, __file__, "--sample-cores", str(out)], cwd=ROOT)


def _counted_across(rows: list, start: float, end: float) -> list[list[int]] | None:
    """Per core, what its counters advanced by from the last sample before ``start`` to the
    first after ``end``; None when no sample lies on either side."""
    before = next((cores for at, cores in reversed(rows) if at <= start), None)
    after = next((cores for at, cores in rows if at >= end), None)
    if before is None or after is None:
        return None
    return [[a - b for a, b in zip(later, earlier, strict=True)] for later, earlier in zip(after, before, strict=True)]


def core_shares(rows: list, core: int, start: float, end: float) -> tuple[float, float, float] | None:
    """The shares of [start, end] ``core`` was busy, busy niced and stolen, from the samples around it;
    None for less than 20 ms (the kernel counts in 10 ms ticks: rough even for tens of ms)."""
    counted = _counted_across(rows, start, end) if end - start >= 0.02 else None
    if counted is None or not counted[core][2]:
        return None
    busy, niced, total, stolen = counted[core]
    return busy / total, niced / total, stolen / total


def stolen_share(rows: list, start: float, end: float) -> str:
    """``; N % of the machine's CPU time stolen`` over [start, end], every core summed; empty
    when none was (or nothing was sampled)."""
    counted = _counted_across(rows, start, end)
    total = sum(core[2] for core in counted) if counted else 0
    stolen = sum(core[3] for core in counted) / total if total else 0.0
    return f"; {stolen:.0%} of the machine's CPU time stolen" if stolen >= 0.005 else ""


# --- the uploads --------------------------------------------------------------------------------

async def upload_phase(protocol: str, ws_url: str, rest_url: str, token: str, ids: list[str], content: bytes,
                       root: Path, write_size: int) -> dict:
    import httpx

    from simulator.logs import LogUploads
    from simulator.station import SimulatedStation

    stations = [SimulatedStation(i, f"{ws_url}/{i}", profile=1, password=PASSWORD, call_timeout=120) for i in ids]
    await asyncio.gather(*(s.connect() for s in stations))
    await asyncio.gather(*(s.boot() for s in stations))
    uploads = {s.identity: LogUploads(s, ca_file=root, content=lambda _t, _r: content, file_name="bench.log",
                                      write_size=write_size) for s in stations}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=rest_url, headers=headers, timeout=120) as rest:
        # One request first: a token is hashed once, then known (a burst of unverified ones is throttled).
        (await rest.get(f"/api/v1/stations/{ids[0]}/logs")).raise_for_status()
        async def get_log(station_id: str) -> tuple[httpx.Response, float]:
            asked = time.perf_counter()
            answer = await rest.post(f"/api/v1/stations/{station_id}/logs",
                                     json={"log_type": "DiagnosticsLog", "protocol": protocol})
            return answer, time.perf_counter() - asked

        started = time.time()
        timed = await asyncio.gather(*(get_log(i) for i in ids))
        answered = time.time()
        answers = [answer for answer, _ in timed]
        waits = sorted(seconds * 1000 for _, seconds in timed)
        request_ids = {i: a.json().get("request_id") for i, a in zip(ids, answers, strict=True)}
        refused = [i for i, a in zip(ids, answers, strict=True) if a.status_code != 200]

        def finished() -> int:
            return sum(1 for u in uploads.values()
                       if any(status in ("Uploaded", "UploadFailure") for _r, status, _a in u.reports))
        while finished() < len(ids) - len(refused):
            await asyncio.sleep(0.1)
        ended = time.time()
        expected = hashlib.sha256(content).hexdigest()
        matching = 0
        for i in ids:
            if request_ids[i] is None:
                continue
            row = (await rest.get(f"/api/v1/stations/{i}/logs/{request_ids[i]}")).json()
            file = row.get("file") or {}
            if file.get("sha256") == expected and file.get("size") == len(content) and row["status"] == "Uploaded":
                matching += 1
    for station in stations:
        await station.close()
    failed = [failure for u in uploads.values() for failure in u.failed.values()]
    return {"protocol": protocol, "started": started, "answered": answered, "ended": ended, "matching": matching,
            "refused": len(refused), "failures": len(failed), "reasons": sorted({str(f) for f in failed})[:3],
            "get_log_ms": waits}


def start_watchers(ws_url: str, args: argparse.Namespace, samples_file: Path) -> subprocess.Popen:
    return subprocess.Popen(pinned(LOAD_CPU, [sys.executable, __file__, "--watch", ws_url, str(args.watchers),
                                       str(args.interval), str(samples_file)]),
                            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def run(args: argparse.Namespace, workdir: Path) -> None:
    data = workdir / "data"
    token = prepare(data, args)
    ports = {name: free_port() for name in ("rest", "ws", "wss", "https", "ftp")}
    server = start_server(data, ports, free_range(args.stations + 50), workdir / "server.log")
    ws_url, rest_url = f"ws://{HOST}:{ports['ws']}/ocpp", f"http://{HOST}:{ports['rest']}"
    samples_file = workdir / "watch.json"
    watcher = start_watchers(ws_url, args, samples_file)
    core_file = workdir / "cores.json"
    sampler = start_sampler(core_file)
    if PINNED:
        os.sched_setaffinity(0, {LOAD_CPU})
    os.nice(5)
    if hasattr(os, "sched_setscheduler"):   # before the upload threads start: they inherit it
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError as exc:  # a sandbox that forbids it: the run goes on, and says so
            print(f"note: the uploading stations stay at nice 5 only (SCHED_IDLE refused: {exc}); "
                  "the watchers' latencies then include their noise", flush=True)
    try:
        while not (workdir / "watch.ready").exists():
            if watcher.poll() is not None:
                raise SystemExit("the watchers did not start")
            await asyncio.sleep(0.1)
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=args.stations + 16))
        content = os.urandom(args.megabytes * 1024 * 1024)
        await asyncio.sleep(1)
        idle_start = time.time()
        await asyncio.sleep(args.idle)
        idle_end = time.time()
        phases = []
        for offset, protocol in enumerate(("ftp", "https")):
            ids = uploader_ids(args.stations)
            # Each phase gets fresh requests; the stations are the same fleet.
            phases.append(await upload_phase(protocol, ws_url, rest_url, token, ids, content, data / "root.pem",
                                             args.write_kib * 1024))
            await asyncio.sleep(2 + offset)
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=30)
        if sampler is not None:
            sampler.send_signal(signal.SIGTERM)
            sampler.wait(timeout=30)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    samples = json.loads(samples_file.read_text())
    cores = json.loads(core_file.read_text()) if sampler is not None else []

    def window(start: float, end: float) -> list[float]:
        return [rtt * 1000 for sent, rtt, _ in samples if start <= sent <= end]

    idle = window(idle_start, idle_end)
    print(f"machine: {os.cpu_count()} cores (shared); {args.stations} stations x {args.megabytes} MB, "
          f"{args.watchers} watchers with a Heartbeat every {args.interval} s each; the uploaders write "
          f"{args.write_kib} KiB at a time; the watchers run {(workdir / 'watch.ready').read_text()}")
    print(f"idle heartbeat: n={len(idle)} p50={percentile(idle, 0.5):.1f} ms p99={percentile(idle, 0.99):.1f} ms"
          f"{stolen_share(cores, idle_start, idle_end)}")
    for phase in phases:
        seconds = phase["ended"] - phase["started"]
        print(f"{phase['protocol'].upper():5} uploads: {phase['matching']}/{args.stations} stored with a matching "
              f"sha256 (refused {phase['refused']}, failed {phase['failures']}); {seconds:.1f} s, "
              f"{args.stations * args.megabytes / seconds:.0f} MB/s"
              f"{stolen_share(cores, phase['started'], phase['ended'])}")
        waits = phase["get_log_ms"]
        print(f"      the {len(waits)} GetLog requests sent at once over REST: answered in {waits[-1] / 1000:.2f} s "
              f"(each: p50 {percentile(waits, 0.5):.0f} ms, max {waits[-1]:.0f} ms)")
        for reason in phase["reasons"]:
            print(f"      a station's failure: {reason}")
        for name, start in (("whole phase", phase["started"]), ("uploads only", phase["answered"])):
            during = window(start, phase["ended"])
            p99 = percentile(during, 0.99)
            print(f"      heartbeat, {name:12}: n={len(during)} p50={percentile(during, 0.5):.1f} ms "
                  f"p99={p99:.1f} ms = {p99 / percentile(idle, 0.99):.2f}x idle p99")
        burst, uploads = (phase["started"], phase["answered"]), (phase["answered"], phase["ended"])
        print(f"      slowest 1% of the uploads' heartbeats: {split_slowest(samples, *uploads)}")
        print(f"      slowest moments of the uploads: {slowest(samples, cores, *uploads)}")
        print(f"      slowest moments of the GetLog burst: {slowest(samples, cores, *burst)}")


def split_slowest(samples: list[tuple[float, float, float | None]], start: float, end: float) -> str:
    """Where the slowest 1% of the heartbeats sent in [start, end] waited, by the server's stamp:
    the median wait up to its answer (the way in and the server's loop) and after it (the way
    back and the watcher's own wake-up on the load's core)."""
    during = sorted((s for s in samples if start <= s[0] <= end and s[2] is not None), key=lambda s: s[1])
    worst = during[-max(1, len(during) // 100):] if during else []
    if not worst:
        return "no answer carried a time"
    before = [up_to_answer(sent, answered) for sent, _, answered in worst]
    after = [max(0.0, rtt * 1000 - b) for (_, rtt, _), b in zip(worst, before, strict=True)]
    return (f"n={len(worst)}, up to the server's answer p50 {percentile(before, 0.5):.1f} ms, "
            f"after it p50 {percentile(after, 0.5):.1f} ms (the stamp is to the millisecond)")


def slowest(samples: list[tuple[float, float, float | None]], cores: list, start: float, end: float,
            count: int = 5) -> str:
    """Where the p99 comes from: the ``count`` slowest moments (heartbeats sent within the same
    10 ms, so one stall of the server shows once with how many watchers it held), as seconds
    from ``start``: a wave of status reports at the start or the end of the uploads, or stalls
    spread over them. With each (of 20 ms or more), how busy the server's core and the load's
    were meanwhile, and how much of their time the hypervisor took (stolen): a heartbeat held
    while the server's core stood mostly idle was not held by the server."""
    moments: dict[int, list[tuple[float, float, float | None]]] = {}
    for sample in samples:
        if start <= sample[0] <= end:
            moments.setdefault(int((sample[0] - start) * 100), []).append(sample)
    worst = sorted(moments.items(), key=lambda item: max(s[1] for s in item[1]), reverse=True)[:count]
    said = []
    for at, held in worst:
        sent, rtt, answered = max(held, key=lambda sample: sample[1])
        # The server's stamp splits the round trip, to the millisecond: the wait before its handler
        # ran (the way in and the server's loop) and after it (the way back, the watcher waking).
        split = "" if answered is None else f", answered at {up_to_answer(sent, answered):.0f} ms"
        shares = [(name, core_shares(cores, at_core, sent, sent + rtt))
                  for name, at_core in (("server", SERVER_CPU), ("load", LOAD_CPU))]
        share = "".join(f"; {name} core {busy:.0%} busy ({niced:.0%} niced{f', {stolen:.0%} stolen' if stolen else ''})"
                        for name, found in shares if found is not None for busy, niced, stolen in [found])
        said.append(f"+{at / 100:.1f} s {rtt * 1000:.1f} ms (x{len(held)}{split}{share})")
    return ", ".join(said)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--watch":
        _, _, ws_url, count, interval, out = sys.argv
        asyncio.run(watch(ws_url, watcher_ids(int(count)), float(interval), Path(out)))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--sample-cores":
        sample_cores(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--megabytes", type=int, default=10)
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between a watcher's Heartbeats")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle heartbeats measured")
    parser.add_argument("--pace", type=int, default=None, metavar="MB_PER_S",
                        help="[file_transfer] max_megabytes_per_second for the run (0: no cap; default: the policy's)")
    parser.add_argument("--write-kib", type=int, default=WRITE_SIZE // 1024, metavar="KIB",
                        help="what an uploading station hands its socket at once (default: the simulator's)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args()
    if args.write_kib < 1:
        parser.error("--write-kib must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
    try:
        asyncio.run(run(args, workdir))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)


if __name__ == "__main__":
    main()
