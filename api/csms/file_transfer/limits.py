"""How many connections the file servers hold, how long a quiet one stays, and by when a
connection must have said who it is.

The idle timeout alone is measured per read: a client that sent a byte of its TLS handshake or
request head (HTTPS), or a NOOP before logging in (FTP), within each timeout held its slot for
as long as it liked, without any credential, and two hundred of them from one address shut every
station out. So an HTTPS connection's handshake, and each of its requests' head, must arrive
within ``head_timeout``, an FTP session must log in within it, and one source address holds at
most ``per_source`` connections of a server (a depot's stations behind one address share them).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 200     # per server; beyond, new ones are closed
    per_source: int = 50           # per server and source address
    idle_timeout: float = 60.0     # a connection that sends or receives nothing for this long is closed
    head_timeout: float = 10.0     # HTTPS: the TLS handshake, and each request's head; FTP: the login


class SourceCounts:
    """Connections open per source address, from any thread: ``enter`` is False past ``per_source``."""

    def __init__(self, per_source: int) -> None:
        self._per_source = per_source
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def enter(self, source: str) -> bool:
        with self._lock:
            if self._open[source] >= self._per_source:
                return False
            self._open[source] += 1
            return True

    def leave(self, source: str) -> None:
        with self._lock:
            self._open[source] -= 1
            if self._open[source] <= 0:
                del self._open[source]


def deadline(sock: socket.socket, seconds: float) -> threading.Timer:
    """Shut ``sock`` down unless cancelled within ``seconds``: the read it is blocked in ends, and
    the connection with it. (socket.socket's own shutdown, not a TLS socket's: the reading
    thread owns the TLS state.)"""
    timer = threading.Timer(seconds, _shut, (sock,))
    timer.daemon = True
    timer.start()
    return timer


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
