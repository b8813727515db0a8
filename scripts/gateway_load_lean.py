#!/usr/bin/env python3
"""The cheapest load generator we can write in Python, for `bench_gateway.py --workers N`.

When the server's workers take every core of the machine, the load generator shares them: each
microsecond it spends per message is one the server does not get, and the measured scaling is
the generator's as much as the server's. So this one does the least per message that is still
OCPP-J on the wire: no asyncio (a ``selectors`` loop over non-blocking ``ssl.SSLSocket``s, so
TLS records are read and written by OpenSSL on the descriptor, no Python memory BIO), frames
encoded before the measurement (the upgrade request, the BootNotification, one Heartbeat frame
sent again and again, masked with a zero key), and a reply frame recognised by its first bytes.
What it sends is what a real station sends: TLS with its client certificate (profile 3), the
HTTP upgrade with subprotocol ocpp2.0.1 (no permessage-deflate offered: compressing is work the
generator would share the cores for), masked text frames; CSMS-initiated CALLs are answered
NotImplemented, pings with pongs.

One process drives a slice of the stations; bench_gateway.py starts several and drives them with
JSON lines on stdin (one answer line each on stdout): ``prepare`` (build the TLS contexts, outside
any measurement), ``storm`` (connect and boot every station of the slice), ``heartbeats`` (every
station sends its next Heartbeat as soon as the last is answered; the answers counted in a window),
``close``, ``quit``.
"""

from __future__ import annotations

import errno
import json
import selectors
import socket
import ssl
import sys
import time
from pathlib import Path

_ZERO_MASK = b"\x00\x00\x00\x00"
CONNECTING, HANDSHAKE, UPGRADE, BOOTING, OPEN, CLOSED = range(6)
HEARTBEAT = b'[2,"h","Heartbeat",{}]'


def frame(payload: bytes, first: int = 0x81) -> bytes:
    """A masked client frame (the zero key leaves the payload as it is)."""
    length = len(payload)
    if length < 126:
        header = bytes((first, 0x80 | length))
    else:
        header = bytes((first, 0x80 | 126)) + length.to_bytes(2, "big")
    return header + _ZERO_MASK + payload


HEARTBEAT_FRAME = frame(HEARTBEAT)


class Conn:
    __slots__ = ("identity", "sock", "state", "buffer", "pending_out", "request", "boot")

    def __init__(self, identity: str, request: bytes, boot: bytes) -> None:
        self.identity = identity
        self.sock: socket.socket | ssl.SSLSocket | None = None
        self.state = CONNECTING
        self.buffer = b""
        self.pending_out = b""
        self.request = request
        self.boot = boot


class Generator:
    def __init__(self, config: dict) -> None:
        self.host, self.port, self.fqdn = config["host"], config["port"], config["fqdn"]
        self.cert_dir = Path(config["cert_dir"])
        self.root = config["root"]
        self.contexts: dict[str, ssl.SSLContext] = {}
        self.conns: list[Conn] = []
        self.selector = selectors.DefaultSelector()
        self.counting = False
        self.hb_mode = False
        self.answered = 0
        self.errors: dict[str, int] = {}

    # --- set-up, outside any measurement -------------------------------------------------------

    def prepare(self, identities: list[str]) -> dict:
        for identity in identities:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.root)
            context.load_cert_chain(str(self.cert_dir / f"{identity}.pem"), str(self.cert_dir / f"{identity}.key"))
            self.contexts[identity] = context
        return {"contexts": len(self.contexts)}

    def _request(self, identity: str) -> bytes:
        return (f"GET /ocpp/{identity} HTTP/1.1\r\nHost: {self.fqdn}:{self.port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: Y2hhcmdlY2EtYmVuY2gtMQ==\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n").encode()

    def _boot(self, identity: str) -> bytes:
        return frame(b'[2,"b","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"BenchModel",'
                     b'"vendorName":"ChargeCA Bench","serialNumber":"%s"}}]' % identity.encode())

    # --- the loop ------------------------------------------------------------------------------

    def _fail(self, conn: Conn, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1
        self._drop(conn)

    def _drop(self, conn: Conn) -> None:
        if conn.sock is not None:
            try:
                self.selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
            conn.sock.close()
        conn.state = CLOSED

    def _open(self, conn: Conn) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex((self.host, self.port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self.errors[errno.errorcode.get(code, str(code))] = self.errors.get(errno.errorcode.get(code, str(code)),
                                                                                0) + 1
            conn.state = CLOSED
            return
        conn.sock = sock
        self.selector.register(sock, selectors.EVENT_WRITE, conn)

    def _send(self, conn: Conn, data: bytes) -> None:
        if conn.pending_out:
            conn.pending_out += data
            return
        try:
            sent = conn.sock.send(data)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            sent = 0
        except OSError:
            self._fail(conn, "send")
            return
        if sent < len(data):
            conn.pending_out = data[sent:]
            self.selector.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    def _handshake(self, conn: Conn) -> None:
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.selector.modify(conn.sock, selectors.EVENT_READ, conn)
            return
        except ssl.SSLWantWriteError:
            self.selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
            return
        except (ssl.SSLError, OSError) as exc:
            self._fail(conn, f"tls: {type(exc).__name__}")
            return
        conn.state = UPGRADE
        self.selector.modify(conn.sock, selectors.EVENT_READ, conn)
        self._send(conn, conn.request)

    def _writable(self, conn: Conn) -> None:
        if conn.state == CONNECTING:
            code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._fail(conn, errno.errorcode.get(code, str(code)))
                return
            self.selector.unregister(conn.sock)
            try:
                conn.sock = self.contexts[conn.identity].wrap_socket(conn.sock, server_hostname=self.fqdn,
                                                                     do_handshake_on_connect=False)
            except OSError as exc:   # reset by the server between accept and TLS: a failed connect
                self._fail(conn, f"before tls: {type(exc).__name__}")
                return
            conn.state = HANDSHAKE
            self.selector.register(conn.sock, selectors.EVENT_WRITE, conn)
            self._handshake(conn)
        elif conn.state == HANDSHAKE:
            self._handshake(conn)
        elif conn.pending_out:
            data, conn.pending_out = conn.pending_out, b""
            self.selector.modify(conn.sock, selectors.EVENT_READ, conn)
            self._send(conn, data)

    def _readable(self, conn: Conn) -> None:
        if conn.state == HANDSHAKE:
            self._handshake(conn)
            return
        sock = conn.sock
        try:
            data = sock.recv(65536)
            while sock.pending():
                data += sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            self._fail(conn, "recv")
            return
        if not data:
            self._fail(conn, "closed by server")
            return
        if conn.state == UPGRADE:
            data = conn.buffer + data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                conn.buffer = data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                self._fail(conn, data.split(b"\r\n", 1)[0].decode("latin-1"))
                return
            conn.buffer = b""
            data = data[end + 4:]
            conn.state = BOOTING
            self._send(conn, conn.boot)
            if not data:
                return
        self._frames(conn, conn.buffer + data if conn.buffer else data)

    def _frames(self, conn: Conn, data: bytes) -> None:
        position, size = 0, len(data)
        while size - position >= 2:
            first, length = data[position], data[position + 1] & 0x7F
            start = position + 2
            if length == 126:
                if size - position < 4:
                    break
                length, start = int.from_bytes(data[position + 2:position + 4], "big"), position + 4
            elif length == 127:
                if size - position < 10:
                    break
                length, start = int.from_bytes(data[position + 2:position + 10], "big"), position + 10
            if size < start + length:
                break
            payload = data[start:start + length]
            position = start + length
            opcode = first & 0x0F
            if opcode == 0x1:
                self._message(conn, payload)
            elif opcode == 0x9:
                self._send(conn, frame(payload, 0x8A))
            elif opcode == 0x8:
                self._fail(conn, "close frame")
                return
        conn.buffer = data[position:] if position < size else b""

    def _message(self, conn: Conn, payload: bytes) -> None:
        kind = payload[1:2]
        if kind == b"3":
            if conn.state == OPEN:
                if self.counting:
                    self.answered += 1
                if self.hb_mode:
                    self._send(conn, HEARTBEAT_FRAME)
            elif conn.state == BOOTING:
                if b'"Accepted"' in payload:
                    conn.state = OPEN
                else:
                    self._fail(conn, "boot not accepted")
        elif kind == b"2":
            message_id = json.loads(payload)[1]
            self._send(conn, frame(json.dumps([4, message_id, "NotImplemented", "bench station", {}]).encode()))
        elif kind == b"4":
            self.errors["CALLERROR"] = self.errors.get("CALLERROR", 0) + 1

    def _poll(self, timeout: float) -> None:
        for key, events in self.selector.select(timeout):
            conn = key.data
            if conn.state == CLOSED:
                continue
            if events & selectors.EVENT_WRITE:
                self._writable(conn)
            if events & selectors.EVENT_READ and conn.state != CLOSED:
                self._readable(conn)

    # --- commands ------------------------------------------------------------------------------

    def storm(self, identities: list[str], concurrency: int, timeout: float) -> dict:
        """Connect and boot ``identities`` (at most ``concurrency`` not yet booted at once); they stay open."""
        self.errors = {}
        before = len(self.conns)
        started = time.perf_counter()
        waiting = [Conn(i, self._request(i), self._boot(i)) for i in reversed(identities)]
        in_flight: list[Conn] = []
        deadline = started + timeout
        while (waiting or in_flight) and time.perf_counter() < deadline:
            while waiting and len(in_flight) < concurrency:
                conn = waiting.pop()
                self._open(conn)
                in_flight.append(conn)
            self._poll(0.05)
            still = []
            for conn in in_flight:
                if conn.state == OPEN:
                    self.conns.append(conn)
                elif conn.state != CLOSED:
                    still.append(conn)
            in_flight = still
        for conn in in_flight:
            self._fail(conn, "timeout")
        booted = len(self.conns) - before
        return {"ok": booted, "failed": len(identities) - booted, "errors": dict(self.errors),
                "seconds": time.perf_counter() - started}

    def heartbeats(self, seconds: float, warmup: float) -> dict:
        self.hb_mode, self.answered, self.errors = True, 0, {}
        for conn in self.conns:
            if conn.state == OPEN:
                self._send(conn, HEARTBEAT_FRAME)
        until = time.perf_counter() + warmup
        while time.perf_counter() < until:
            self._poll(0.05)
        self.counting = True
        started = time.perf_counter()
        until = started + seconds
        while time.perf_counter() < until:
            self._poll(0.05)
        self.counting, self.hb_mode = False, False
        elapsed = time.perf_counter() - started
        drain = time.perf_counter() + 5   # the answers to the Heartbeats in flight, so a next phase starts clean
        while time.perf_counter() < drain:
            self._poll(0.05)
            if not self.selector.select(0):
                break
        return {"messages": self.answered, "seconds": elapsed, "errors": dict(self.errors),
                "open": sum(1 for c in self.conns if c.state == OPEN)}

    def close(self) -> dict:
        closed = 0
        for conn in self.conns:
            if conn.state != CLOSED:
                try:
                    conn.sock.send(frame((1000).to_bytes(2, "big"), 0x88))
                except OSError:
                    pass
                self._drop(conn)
                closed += 1
        self.conns, self.errors = [], {}
        return {"closed": closed}


def main() -> None:
    generator = Generator(json.loads(sys.argv[1]))
    for line in sys.stdin:
        command = json.loads(line)
        name = command.pop("cmd")
        if name == "quit":
            break
        result = getattr(generator, name)(**command)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
