#!/usr/bin/env python3
"""Load generator for scripts/bench_gateway.py: thousands of OCPP-J stations in one process.

A raw RFC 6455 client on asyncio transports rather than the simulator (simulator/station.py):
a station here is one socket, one TLS object and a handful of small Python objects, so one core
can drive a 10,000-station storm and keep the server core saturated. On the wire it is what a
real station sends: TLS (a client certificate on profile 3, server certificate verified against
the CSMS root), an HTTP upgrade with Basic auth on profiles 1/2, subprotocol ocpp2.0.1,
permessage-deflate offered (and used when the server accepts it), masked frames.

It runs as its own process (bench_gateway.py pins it to another core than the server's) and
takes commands as JSON lines on stdin, answering each with one JSON line on stdout; events the
caller must time against (the start and end of a steady phase) are JSON lines of their own.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import base64
import contextlib
import json
import os
import ssl
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from quiet_collector import collector_paused

# Same reason as the server (api/server.py): asyncio gives every TLS connection a 256 KiB read
# buffer; 10,000 of them would cost the load generator 2.5 GiB for nothing.
asyncio.sslproto.SSLProtocol.max_size = 16 * 1024

HEARTBEAT = b"{}"
_ZERO_MASK = b"\x00\x00\x00\x00"


@dataclass(frozen=True)
class Target:
    host: str
    ws_port: int
    wss_port: int
    fqdn: str
    root: str          # CSMS root certificate file
    cert_dir: str      # profile 3: <identity>.pem (leaf + station CA) and <identity>.key
    password: str      # profiles 1/2: every bench station has this Basic-auth password
    deflate: bool = True   # offer permessage-deflate, as most OCPP-J client libraries do
    # The loopback address connections come from (127.0.0.2, …): one source address offers the
    # ~28,000 ports of ip_local_port_range towards one server port; None: the kernel's choice.
    source: str | None = None


class Refused(Exception):
    pass


# The sampled values of each TransactionEvent of the charging phase (issue 11: 4 measurands).
MEASURANDS = (("Energy.Active.Import.Register", "Wh"), ("Power.Active.Import", "W"),
              ("Current.Import", "A"), ("Voltage", "V"))


class _Session:
    """One station's transaction in the charging phase: seqNo and meter register kept here."""

    def __init__(self, transaction_id: str) -> None:
        self.transaction_id = transaction_id
        self.seq_no = 0
        self.register = 0.0

    def event(self, event_type: str, trigger: str) -> tuple[bytes, int]:
        """The next TransactionEvent's payload and how many sampled values it carries."""
        self.register += 2.0   # ~7 kW for one second
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        readings = {"Wh": self.register, "W": 7200.0, "A": 16.0, "V": 230.0}
        values = [{"value": readings[unit], "measurand": measurand, "unitOfMeasure": {"unit": unit}}
                  for measurand, unit in MEASURANDS]
        payload = {"eventType": event_type, "timestamp": now, "triggerReason": trigger, "seqNo": self.seq_no,
                   "transactionInfo": {"transactionId": self.transaction_id, "chargingState": "Charging"},
                   "evse": {"id": 1, "connectorId": 1}, "meterValue": [{"timestamp": now, "sampledValue": values}]}
        self.seq_no += 1
        return json.dumps(payload, separators=(",", ":")).encode(), len(values)


class Station(asyncio.Protocol):
    """One OCPP-J client connection: the opening handshake, then frames. One CALL at a time."""

    def __init__(self, identity: str, request: bytes, loop: asyncio.AbstractEventLoop) -> None:
        self.identity = identity
        self._request = request
        self._loop = loop
        self.opened = loop.create_future()
        self.transport: asyncio.BaseTransport | None = None
        self._buffer = bytearray()
        self._handshaking = True
        self._compress = None
        self._decompress = None
        self._flush = zlib.Z_SYNC_FLUSH
        self._answer: asyncio.Future | None = None
        self._sequence = 0
        self.closed = False
        self.booted = False

    # --- asyncio callbacks --------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self._request)

    def connection_lost(self, exc) -> None:
        self.closed = True
        failure = ConnectionError(f"{self.identity}: connection lost ({exc})")
        if not self.opened.done():
            self.opened.set_exception(failure)
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(failure)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._handshaking and not self._read_response():
            return
        self._read_frames()

    # --- opening handshake --------------------------------------------------------------------

    def _read_response(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[:end + 4]
        self._handshaking = False
        status_line, *lines = head.split("\r\n")
        if " 101 " not in status_line + " ":
            self.opened.set_exception(Refused(status_line))
            self.transport.close()
            return False
        headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in lines)}
        extensions = headers.get("sec-websocket-extensions", "")
        if "permessage-deflate" in extensions:
            client_bits = 15
            for parameter in extensions.split(";"):
                name, _, value = parameter.strip().partition("=")
                if name == "client_max_window_bits" and value:
                    client_bits = int(value.strip('"'))
                elif name == "client_no_context_takeover":
                    # Each message must stand alone: a full flush forgets the history.
                    self._flush = zlib.Z_FULL_FLUSH
            # Small client state: the server's choice bounds it anyway (RFC 7692 §7.1.2.2).
            self._compress = zlib.compressobj(6, zlib.DEFLATED, -max(client_bits, 9), 4)
            self._decompress = zlib.decompressobj(-15)
        self.opened.set_result(headers)
        return True

    # --- frames -------------------------------------------------------------------------------

    def _read_frames(self) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length, start = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start:start + length])
            del buffer[:start + length]
            opcode = first & 0x0F
            if opcode == 0x9:                      # ping: answer, or the server drops us
                self._send(0x8A, payload)
            elif opcode == 0x8:                    # close
                self.transport.close()
            elif opcode in (0x1, 0x2):
                if first & 0x40:                   # RSV1: compressed (RFC 7692)
                    payload = self._decompress.decompress(payload + b"\x00\x00\xff\xff")
                self._on_message(payload)

    def _on_message(self, message: bytes) -> None:
        if message.startswith(b"[2"):
            # A CSMS-initiated CALL (ready hooks, outbox): a station that does not implement it
            # says so, which is a valid answer.
            message_id = json.loads(message)[1]
            self.send_text(json.dumps([4, message_id, "NotImplemented", "bench station", {}]).encode())
            return
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_result(message)

    def _send(self, first: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            header = bytes((first, 0x80 | length))
        elif length < 65536:
            header = bytes((first, 0x80 | 126)) + length.to_bytes(2, "big")
        else:
            header = bytes((first, 0x80 | 127)) + length.to_bytes(8, "big")
        # A zero masking key leaves the payload as it is: a valid mask that costs no XOR pass.
        self.transport.write(header + _ZERO_MASK + payload)

    def send_text(self, text: bytes) -> None:
        if self._compress is not None:
            data = self._compress.compress(text) + self._compress.flush(self._flush)
            self._send(0xC1, data[:-4])
        else:
            self._send(0x81, text)

    async def call(self, action: str, payload: bytes) -> bytes:
        """Send a CALL; the raw answer frame (CALLRESULT or CALLERROR)."""
        self._sequence += 1
        self._answer = self._loop.create_future()
        self.send_text(b'[2,"%d","%s",%s]' % (self._sequence, action.encode(), payload))
        return await self._answer

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self._send(0x88, (1000).to_bytes(2, "big"))
            self.transport.close()


class Fleet:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.stations: dict[str, Station] = {}
        self._shared_tls: ssl.SSLContext | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._transactions: dict[Station, _Session] = {}   # the charging phase's, while they run

    # --- connecting ---------------------------------------------------------------------------

    async def prepare_tls(self, identities: list[str]) -> dict:
        """Build the profile-3 stations' TLS contexts ahead (~1.2 ms each: the key and the
        certificates are parsed): a real station has its context long before it connects."""
        started = time.perf_counter()
        for identity in identities:
            self._contexts[identity] = self._tls(identity, 3)
        return {"contexts": len(identities), "seconds": time.perf_counter() - started}

    def _tls(self, identity: str, profile: int) -> ssl.SSLContext:
        if profile == 3 and identity in self._contexts:
            return self._contexts[identity]
        if profile == 2 and self._shared_tls is not None:
            return self._shared_tls
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.target.root)
        if profile == 3:
            stem = Path(self.target.cert_dir) / identity
            context.load_cert_chain(f"{stem}.pem", f"{stem}.key")
        else:
            self._shared_tls = context
        return context

    def _request(self, identity: str, profile: int, port: int) -> bytes:
        lines = [f"GET /ocpp/{identity} HTTP/1.1", f"Host: {self.target.fqdn}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
                 "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: ocpp2.0.1"]
        if self.target.deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        if profile in (1, 2):
            token = base64.b64encode(f"{identity}:{self.target.password}".encode()).decode()
            lines.append(f"Authorization: Basic {token}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def open(self, identity: str, profile: int, timeout: float) -> Station:
        loop = asyncio.get_running_loop()
        port = self.target.ws_port if profile == 1 else self.target.wss_port
        station = Station(identity, self._request(identity, profile, port), loop)
        options = {}
        if profile != 1:
            options = dict(ssl=self._tls(identity, profile), server_hostname=self.target.fqdn,
                           ssl_handshake_timeout=timeout)
        if self.target.source:
            options["local_addr"] = (self.target.source, 0)
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: station, self.target.host, port, **options)
            await station.opened
        self.stations[identity] = station
        return station

    async def boot(self, station: Station) -> None:
        payload = b'{"reason":"PowerUp","chargingStation":{"model":"BenchModel","vendorName":"ChargeCA Bench",' \
                  b'"serialNumber":"%s"}}' % station.identity.encode()
        answer = await asyncio.wait_for(station.call("BootNotification", payload), 60)
        if b'"Accepted"' not in answer:
            raise Refused(f"BootNotification answered {answer[:120]!r}")
        station.booted = True

    async def connect(self, identities: list[str], profile: int, concurrency: int, boot: bool,
                      heartbeat: bool, keep: bool, timeout: float) -> dict:
        """Open the stations with at most ``concurrency`` opening handshakes in flight; boot each
        once it is open (boots are not limited: a booting station is past its handshake)."""
        limit = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()
        opened_at: list[float] = []
        done_at: list[float] = []
        started = time.perf_counter()

        async def one(identity: str) -> None:
            try:
                async with limit:
                    station = await self.open(identity, profile, timeout)
                opened_at.append(time.perf_counter())
                if boot:
                    await self.boot(station)
                if heartbeat:
                    await asyncio.wait_for(station.call("Heartbeat", HEARTBEAT), 60)
                done_at.append(time.perf_counter())
                if not keep:
                    station.close()
                    self.stations.pop(identity, None)
            except (Exception, asyncio.TimeoutError) as exc:  # noqa: BLE001 - counted, not fatal
                errors[_reason(exc)] += 1

        await asyncio.gather(*(one(identity) for identity in identities))
        return {"ok": len(done_at), "failed": sum(errors.values()), "errors": dict(errors.most_common(5)),
                "open_seconds": (max(opened_at) - started) if opened_at else None,
                "seconds": (max(done_at) - started) if done_at else None,
                "tls": self._tls_facts()}

    async def boot_open(self, concurrency: int) -> dict:
        """Boot every open station that has not booted yet, then one Heartbeat each."""
        limit = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()
        pending = [s for s in self.stations.values() if not s.booted and not s.closed]

        async def one(station: Station) -> None:
            try:
                async with limit:
                    await self.boot(station)
                    await asyncio.wait_for(station.call("Heartbeat", HEARTBEAT), 60)
            except (Exception, asyncio.TimeoutError) as exc:  # noqa: BLE001 - counted, not fatal
                errors[_reason(exc)] += 1

        await asyncio.gather(*(one(station) for station in pending))
        return {"ok": len(pending) - sum(errors.values()), "failed": sum(errors.values()),
                "errors": dict(errors.most_common(5))}

    def _tls_facts(self) -> str | None:
        for station in self.stations.values():
            ssl_object = station.transport.get_extra_info("ssl_object") if station.transport else None
            if ssl_object is not None:
                return f"{ssl_object.version()} {ssl_object.cipher()[0]}"
        return None

    # --- traffic ------------------------------------------------------------------------------

    async def paced(self, rate: float, seconds: float, warmup: float) -> dict:
        """Heartbeats at ``rate`` per second in total, spread over the open stations round-robin;
        a station still waiting for its previous answer skips its turn (counted)."""
        return await self._paced(rate, seconds, warmup, "Heartbeat", lambda _station: HEARTBEAT)

    async def charging(self, rate: float, seconds: float, warmup: float, begin: bool = True,
                       finish: bool = True) -> dict:
        """Every open station runs a transaction: TransactionEvent Started (``begin``), then Updated
        events with MEASURANDS sampled values at ``rate`` per second in total, as Heartbeats go in
        ``paced``, then Ended (``finish``). Without ``finish`` the transactions stay open for the
        next call (rounds alternating with Heartbeat phases). ``sampled_values`` counts those the
        CSMS answered, to compare with the rows it stored."""
        if begin:
            self._transactions = {station: _Session(f"{station.identity}-tx")
                                  for station in self.stations.values() if not station.closed}
        sessions = self._transactions
        answered = {"sampled_values": 0, "errors": 0}
        slots = asyncio.Semaphore(100)

        async def one(station: Station, event_type: str, trigger: str) -> None:
            async with slots:
                payload, values = sessions[station].event(event_type, trigger)
                try:
                    answer = await asyncio.wait_for(station.call("TransactionEvent", payload), 30)
                except (Exception, asyncio.TimeoutError):  # noqa: BLE001
                    answer = b""
                if answer.startswith(b"[3"):
                    answered["sampled_values"] += values
                else:
                    answered["errors"] += 1

        if begin:
            await asyncio.gather(*(one(station, "Started", "CablePluggedIn") for station in sessions))
        result = await self._paced(rate, seconds, warmup, "TransactionEvent",
                                   lambda station: sessions[station].event("Updated", "MeterValuePeriodic")[0],
                                   on_answer=lambda _station: len(MEASURANDS), among=list(sessions))
        if finish:
            await asyncio.gather(*(one(station, "Ended", "EVCommunicationLost") for station in sessions))
            self._transactions = {}
        result["sampled_values"] = answered["sampled_values"] + result.pop("answered_values")
        result["edge_errors"] = answered["errors"]
        result["measurands"] = len(MEASURANDS)
        return result

    async def _paced(self, rate: float, seconds: float, warmup: float, action: str,
                     payload: Callable[[Station], bytes], on_answer: Callable[[Station], int] | None = None,
                     among: list[Station] | None = None) -> dict:
        stations = [s for s in (self.stations.values() if among is None else among) if not s.closed]
        answered_values = 0
        latencies: list[float] = []
        skipped = errors = 0
        busy: set[Station] = set()
        measuring = False
        tasks: set[asyncio.Task] = set()

        async def beat(station: Station, record: bool) -> None:
            nonlocal errors, answered_values
            busy.add(station)
            sent = time.perf_counter()
            try:
                answer = await asyncio.wait_for(station.call(action, payload(station)), 10)
                if answer.startswith(b"[3") and on_answer is not None:
                    answered_values += on_answer(station)
                if record and answer.startswith(b"[3"):
                    latencies.append(time.perf_counter() - sent)
                elif not answer.startswith(b"[3"):
                    errors += 1
            except (Exception, asyncio.TimeoutError):  # noqa: BLE001
                errors += 1
            finally:
                busy.discard(station)

        loop = asyncio.get_running_loop()
        start = loop.time()
        end = start + warmup + seconds
        sent_total, index, tick = 0, 0, 0.002
        with contextlib.ExitStack() as steady:
            while (now := loop.time()) < end:
                if not measuring and now >= start + warmup:
                    measuring = True
                    steady.enter_context(collector_paused())
                    latencies.clear()
                    skipped = errors = 0
                    _event("steady_start")
                due = int((now - start) * rate) - sent_total
                for _ in range(max(0, due)):
                    station = stations[index % len(stations)]
                    index += 1
                    sent_total += 1
                    if station in busy or station.closed:
                        skipped += 1
                        continue
                    task = asyncio.create_task(beat(station, measuring))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.sleep(tick)
            _event("steady_end")
            await asyncio.gather(*tasks, return_exceptions=True)   # their answers are measured too
        latencies.sort()
        return {"messages": len(latencies), "skipped": skipped, "errors": errors,
                "p50_ms": _percentile(latencies, 0.50) * 1000, "p99_ms": _percentile(latencies, 0.99) * 1000,
                "max_ms": (latencies[-1] * 1000) if latencies else None, "answered_values": answered_values}

    async def closed_loop(self, seconds: float, warmup: float) -> dict:
        """Every open station sends its next Heartbeat as soon as the previous one is answered."""
        stations = [s for s in self.stations.values() if not s.closed]
        counts = {"answered": 0, "errors": 0}
        measuring = asyncio.Event()
        stop = asyncio.Event()

        async def run(station: Station) -> None:
            while not stop.is_set():
                try:
                    answer = await asyncio.wait_for(station.call("Heartbeat", HEARTBEAT), 30)
                except (Exception, asyncio.TimeoutError):  # noqa: BLE001
                    counts["errors"] += 1
                    return
                if measuring.is_set() and not stop.is_set():
                    counts["answered" if answer.startswith(b"[3") else "errors"] += 1

        tasks = [asyncio.create_task(run(station)) for station in stations]
        await asyncio.sleep(warmup)
        measuring.set()
        _event("steady_start")
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        stop.set()
        elapsed = time.perf_counter() - started
        _event("steady_end")
        await asyncio.wait(tasks, timeout=30)
        return {"messages": counts["answered"], "errors": counts["errors"], "per_second": counts["answered"] / elapsed}

    async def hold(self, seconds: float) -> dict:
        """Stay quiet for ``seconds`` (answering the server's pings); how many connections are still open."""
        await asyncio.sleep(seconds)
        return {"open": sum(1 for s in self.stations.values() if not s.closed), "kept": len(self.stations)}

    async def close(self, identities: list[str]) -> dict:
        for identity in identities:
            station = self.stations.pop(identity, None)
            if station is not None:
                station.close()
        await asyncio.sleep(1)
        return {"closed": len(identities)}

    async def close_all(self) -> dict:
        count = len(self.stations)
        for station in self.stations.values():
            station.close()
        self.stations.clear()
        await asyncio.sleep(1)
        return {"closed": count}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    return f"{type(exc).__name__}: {str(exc)[:80]}"


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _event(name: str) -> None:
    print(json.dumps({"event": name}), flush=True)


async def main() -> None:
    target = Target(**json.loads(sys.argv[1]))
    fleet = Fleet(target)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2 ** 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        name = command.pop("cmd")
        if name == "quit":
            break
        result = await getattr(fleet, name)(**command)
        print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
