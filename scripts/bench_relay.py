#!/usr/bin/env python3
"""Relayed CSMS calls between two nodes. Prints numbers; asserts nothing.

    .venv/bin/python scripts/bench_relay.py [--database-url postgresql+psycopg://127.0.0.1/test]
        [--nats-url nats://127.0.0.1:4222] [--stations 20] [--rate 100] [--seconds 10]

Starts two `chargeca serve` nodes (node-a, node-b) on a fresh PostgreSQL database made beside
--database-url (dropped after) and a NATS server (a private nats-server on a free port unless
--nats-url is given), connects --stations simulated stations (profile 1, plain ws) to node A,
then sends operator calls (POST /api/v1/stations/{id}/calls, TriggerMessage Heartbeat, sync)
at --rate calls/s, open loop, for --seconds:

1. through node B's REST: relayed over NATS to node A, which holds the stations (the figure of
   issue 13: p99 target 20 ms);
2. the same through node A's REST: a local call, the reference measured in the same run;
3. the relay hop alone: NATS requests straight to node A's relay subject (what node B sends
   after its REST work), answered once the station answered.

Each round trip is the REST request's: authentication, role and rule checks, the audit entry,
the call to the station and its answer. The difference between the two is what the relay adds.
Each REST phase also prints each node's CPU (from /proc) per call sent, over its steady part.

Each REST phase first runs --warmup seconds at the same rate, measured apart ("cold"): a node's
first calls check the token with argon2 (the others wait for that check) and open connections,
and with 1,000 calls a phase the ten slowest decide the p99, so a cold start of a few dozen calls
would be read as the steady state's tail. The phases run with this process's cyclic garbage
collector paused (scripts/quiet_collector.py).

This machine's speed varies with its host's load: compare the ratio, not the absolute figures.

``relay_round_trips(...)`` runs the same for another script (scripts/bench_gateway.py) and
returns the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support"), str(ROOT / "scripts")]

from bench_gateway import cpu_seconds  # noqa: E402 - found through the path above
from scratch_database import scratch_database  # noqa: E402

if TYPE_CHECKING:
    from cluster_support import Node

PASSPHRASE = "bench-relay-passphrase"
PASSWORD = "bench-relay-password-0123456789"
ORG, FQDN = "Bench Relay", "csms.bench.localhost"
CALL = {"action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}}


@dataclass(frozen=True)
class RoundTrips:
    label: str
    sent: int
    answered: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    cpu_ms: tuple[tuple[str, float], ...] = ()   # (node, its CPU in ms per call sent), steady phases

    def line(self) -> str:
        failures = f"   failures: {self.errors}" if self.errors else ""
        cpu = "".join(f"   {node} {ms:.2f} ms CPU/call" for node, ms in self.cpu_ms)
        return (f"{self.label:<34} {self.answered:>5}/{self.sent:<5} answered   p50 {self.p50_ms:6.2f} ms   "
                f"p99 {self.p99_ms:6.2f} ms   max {self.max_ms:7.2f} ms{cpu}{failures}")


@dataclass(frozen=True)
class RelayNumbers:
    relayed: RoundTrips
    local: RoundTrips
    hop: RoundTrips
    cold: tuple[RoundTrips, ...] = ()

    def lines(self) -> list[str]:
        ratio = self.relayed.p99_ms / self.local.p99_ms if self.local.p99_ms else float("nan")
        return [*(cold.line() for cold in self.cold), self.relayed.line(), self.local.line(), self.hop.line(),
                f"relayed/local p50 x{self.relayed.p50_ms / self.local.p50_ms:.2f}, p99 x{ratio:.2f}; "
                f"relay adds {self.relayed.p50_ms - self.local.p50_ms:+.2f} ms at p50 (target: relayed p99 <= 20 ms)"]


def prepare(data: Path, database_url: str, stations: int) -> str:
    """A PKI and the stations in the database; an operator token."""
    os.environ.update(CHARGECA_KEY_PASSPHRASE=PASSPHRASE, CHARGECA_DATABASE_URL=database_url)
    from api.core.audit import Actor
    from api.core.context import open_context
    from api.core.credentials import hash_secret
    from api.core.settings import load_settings
    from api.operations.tokens import create_token
    from pki.authorities import init_pki
    from storage.db import session_scope
    from storage.stations import Station

    ctx = open_context(load_settings(data))
    with session_scope(ctx.engine) as session:
        init_pki(session, ctx.keystore, organization=ORG, fqdn=FQDN, policy=ctx.policy, urls=ctx.urls)
    password_hash = hash_secret(PASSWORD)
    with session_scope(ctx.engine) as session:
        session.add_all(Station(id=station_id, security_profile=1, password_hash=password_hash)
                        for station_id in station_ids(stations))
    token = create_token(ctx, Actor("bench:relay"), "operator", "bench relay").token
    ctx.engine.dispose()
    return token


def station_ids(count: int) -> list[str]:
    return [f"RELAY-{i:05d}" for i in range(count)]


async def _load(rest_url: str, token: str, ids: list[str], rate: float, seconds: float, label: str, *,
                warmup: float = 0.0, nodes: Sequence[Node] = ()) -> tuple[RoundTrips, RoundTrips]:
    """The cold start (the first ``warmup`` seconds at ``rate``) and the steady phase after it,
    with the CPU each of ``nodes`` spent on it."""
    import httpx

    times: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=rest_url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=30, limits=limits) as rest:
        async def one(station_id: str) -> None:
            started = time.perf_counter()
            try:
                answer = await rest.post(f"/api/v1/stations/{station_id}/calls", json=CALL)
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            if answer.status_code == 200 and answer.json().get("status") == "answered":
                times.append((time.perf_counter() - started) * 1000)
            else:
                key = f"{answer.status_code} {answer.text[:80]}"
                errors[key] = errors.get(key, 0) + 1

        count = await _open_loop(one, ids, rate, warmup)
        cold = _summary(f"{label.split(' ', 1)[0]}, first {warmup:g} s (cold)", count, times[:], dict(errors))
        times.clear()
        errors.clear()
        before = [cpu_seconds(node.pid) for node in nodes]
        count = await _open_loop(one, ids, rate, seconds)
        cpu = tuple((node.name, (cpu_seconds(node.pid) - was) * 1000 / count)
                    for node, was in zip(nodes, before, strict=True))
    return cold, replace(_summary(label, count, times, errors), cpu_ms=cpu)


async def _hops(nats_url: str, database_url: str, ids: list[str], rate: float, seconds: float) -> RoundTrips:
    """The relay hop alone: what node B does for a call after REST, a NATS request to node A
    naming the station's epoch, answered once the station answered (no REST, no audit)."""
    import nats
    from sqlalchemy import create_engine, text

    from api.cluster.bus import call_subject, decode, encode

    engine = create_engine(database_url)
    with engine.connect() as db:
        epochs = dict(db.execute(text("SELECT station_id, epoch FROM station_presence")).all())
    engine.dispose()
    client = await nats.connect(nats_url)
    times: list[float] = []
    errors: dict[str, int] = {}

    async def one(station_id: str) -> None:
        started = time.perf_counter()
        request = {"station": station_id, "epoch": epochs[station_id], "timeout": 10, **CALL}
        try:
            reply = decode((await client.request(call_subject("node-a"), encode(request), timeout=15)).data)
        except Exception as exc:  # noqa: BLE001 - counted, as the REST phases count theirs
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        if reply.get("outcome", {}).get("status") == "answered":
            times.append((time.perf_counter() - started) * 1000)
        else:
            errors[str(reply)[:80]] = errors.get(str(reply)[:80], 0) + 1

    try:
        count = await _open_loop(one, ids, rate, seconds)
    finally:
        await client.close()
    return _summary("relay hop alone (NATS to A)", count, times, errors)


async def _open_loop(one, ids: list[str], rate: float, seconds: float) -> int:
    """``one(station_id)`` started at ``rate`` a second for ``seconds``, round robin over ``ids``
    (open loop: a slow answer delays no later start); how many were started, once all ended."""
    tasks, count, start = [], int(rate * seconds), time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(ids[i % len(ids)])))
    await asyncio.gather(*tasks)
    return count


def _summary(label: str, sent: int, times: list[float], errors: dict[str, int]) -> RoundTrips:
    ordered = sorted(times) or [float("nan")]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return RoundTrips(label, sent, len(times), statistics.median(ordered), p99, ordered[-1], errors)


async def relay_round_trips(workdir: Path, database_url: str, nats_url: str, *, stations: int = 20,
                            rate: float = 100.0, seconds: float = 10.0, warmup: float = 2.0) -> RelayNumbers:
    """Two nodes on ``database_url`` (a database of its own: this fills it) and ``nats_url``;
    relayed (REST on node B) and local (REST on node A) round trips to stations on node A."""
    from cluster_support import Node
    from quiet_collector import collector_paused

    from simulator.station import SimulatedStation

    token = await asyncio.to_thread(prepare, workdir / "data", database_url, stations)
    nodes = [Node(name, workdir, database_url, nats_url, PASSPHRASE) for name in ("node-a", "node-b")]
    connected: list[SimulatedStation] = []
    try:
        await asyncio.gather(*(node.start() for node in nodes))
        a, b = nodes
        ids = station_ids(stations)
        for station_id in ids:
            station = SimulatedStation(station_id, f"ws://127.0.0.1:{a.ws_port}/ocpp", profile=1,
                                       password=PASSWORD, workdir=workdir / "stations" / station_id)
            await station.connect()
            await station.boot()
            connected.append(station)
        with collector_paused():
            cold_relayed, relayed = await _load(b.rest_url, token, ids, rate, seconds,
                                                "relayed (REST on B, station on A)", warmup=warmup, nodes=nodes)
        with collector_paused():
            cold_local, local = await _load(a.rest_url, token, ids, rate, seconds,
                                            "local (REST on A, station on A)", warmup=warmup, nodes=nodes)
        with collector_paused():
            hop = await _hops(nats_url, database_url, ids, rate, seconds)
        if relayed.errors or local.errors:
            for node in nodes:
                print(f"--- {node.name}: errors in its log", file=sys.stderr)
                print("".join(line for line in node.output if " ERROR " in line or "Error" in line)[-4000:],
                      file=sys.stderr)
        return RelayNumbers(relayed, local, hop, (cold_relayed, cold_local))
    finally:
        for station in connected:
            await station.close()
        await asyncio.gather(*(node.stop() for node in nodes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql+psycopg://127.0.0.1/test",
                        help="a fresh database is made beside this one and dropped after")
    parser.add_argument("--nats-url", default=None, help="default: a private nats-server on a free port")
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100.0, help="calls/s")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds at --rate before each REST phase, measured apart (cold start)")
    args = parser.parse_args()

    from cluster_support import NatsServer, nats_server_binary

    nats = None
    if args.nats_url is None:
        binary = nats_server_binary()
        if binary is None:
            raise SystemExit("bench_relay: nats-server is not installed; give --nats-url")
        nats = NatsServer(binary)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-relay-") as workdir, \
                scratch_database(args.database_url) as database_url:
            numbers = asyncio.run(relay_round_trips(Path(workdir), database_url, args.nats_url or nats.url,
                                                    stations=args.stations, rate=args.rate, seconds=args.seconds,
                                                    warmup=args.warmup))
    finally:
        if nats is not None:
            nats.stop()
    print(f"relayed calls: {args.stations} stations on node A, {args.rate:g} calls/s for {args.seconds:g} s "
          f"(open loop, after {args.warmup:g} s of warm-up), TriggerMessage Heartbeat via POST "
          f"/api/v1/stations/{{id}}/calls")
    for line in numbers.lines():
        print(line)


if __name__ == "__main__":
    main()
