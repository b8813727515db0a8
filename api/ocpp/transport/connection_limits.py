"""How many OCPP connections may be open, and how many may wait for admission, counted from the
TCP accept on (before TLS): each one holds a file descriptor and ~60 KiB until it is admitted
or cut by the open timeout.

The listening socket is a ``socket.socket`` subclass whose ``accept`` asyncio calls: a connection
over a limit (all open ones, waiting ones, waiting ones of its source address) is closed right
there, before any TLS or HTTP work. The accepted socket counts as waiting until the listener
says it was admitted (``admitted``) or asyncio closes it.

Out of file descriptors (EMFILE/ENFILE), asyncio's accept loop retries the same failing accept
for the whole backlog each tick and logs each failure with a traceback (hundreds of thousands of
lines a minute). Here the first failure goes through to asyncio, which stops accepting for a
second; further calls in that pause say "nothing to accept"; and ``quiet_accept_errors`` turns
asyncio's report into one warning per interval, with the count of those held back.

``ensure_descriptor_limit`` raises the soft RLIMIT_NOFILE to what the limits need at start, or
refuses to start naming the limit.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import logging
import resource
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from policies.model import AdmissionPolicy

log = logging.getLogger("chargeca.ocpp.listener")

_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
ASYNCIO_ACCEPT_FAILURE = "socket.accept() out of system resource"   # asyncio's message, matched exactly
_ACCEPT_PAUSE = 0.5   # below asyncio's retry delay (1 s): one real accept attempt per retry

# The peer of the connection whose accept task is running: set in ``accept``, asyncio copies the
# context into the task that performs the TLS handshake, so a handshake failure can be told
# apart per peer (api/ocpp/transport/tls_refusals.py).
accepted_peer: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("chargeca_ocpp_peer", default=None)


class DescriptorLimitError(RuntimeError):
    """The hard RLIMIT_NOFILE is below what the configured capacity needs."""


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 10_000
    max_pending: int = 2048
    max_pending_per_source: int = 256
    descriptor_reserve: int = 1024

    @classmethod
    def from_policy(cls, policy: AdmissionPolicy) -> "ConnectionLimits":
        return cls(policy.max_connections, policy.max_pending_connections, policy.max_pending_per_source,
                   policy.file_descriptor_reserve)

    @property
    def descriptors_needed(self) -> int:
        return self.max_connections + self.descriptor_reserve


@dataclass
class ConnectionCounts:
    """Now and running totals, for a metrics collector."""

    open: int = 0
    pending: int = 0
    refused_total: int = 0         # closed at accept: all open connections in use
    refused_pending: int = 0       # closed at accept: too many waiting
    refused_per_source: int = 0    # closed at accept: too many waiting from that address
    out_of_descriptors: int = 0    # EMFILE/ENFILE on accept


class ConnectionTracker:
    """Counts the accepted sockets of the listeners it made (``listening_socket``)."""

    def __init__(self, limits: ConnectionLimits,
                 on_refused: Callable[[tuple, str, str], None] = lambda *_: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.counts = ConnectionCounts()
        self._on_refused = on_refused
        self._clock = clock
        self._pending_by_source: dict[str, int] = {}
        self._pending: dict[tuple, _TrackedSocket] = {}

    def listening_socket(self, host: str, port: int, backlog: int, *, reuse_port: bool = False) -> socket.socket:
        """``reuse_port``: SO_REUSEPORT, the port shared with the other workers of this machine."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        plain = socket.create_server((host, port), family=family, backlog=backlog, reuse_port=reuse_port,
                                     dualstack_ipv6=family == socket.AF_INET6 and host in ("::", ""))
        return _Listener(self, plain)

    # --- called by the sockets --------------------------------------------------------------------

    def _refusal(self, source: str) -> tuple[str, str] | None:
        limits, counts = self.limits, self.counts
        if counts.open >= limits.max_connections:
            counts.refused_total += 1
            return "connection.limit", f"all {limits.max_connections} OCPP connections are in use"
        if counts.pending >= limits.max_pending:
            counts.refused_pending += 1
            return "connection.pending_limit", f"{limits.max_pending} connections already wait for admission"
        if self._pending_by_source.get(source, 0) >= limits.max_pending_per_source:
            counts.refused_per_source += 1
            return ("connection.source_pending_limit",
                    f"{limits.max_pending_per_source} connections from this address already wait for admission")
        return None

    def _accepted(self, sock: "_TrackedSocket", peer: tuple) -> None:
        self.counts.open += 1
        self.counts.pending += 1
        self._pending_by_source[peer[0]] = self._pending_by_source.get(peer[0], 0) + 1
        self._pending[peer] = sock

    def _settle(self, sock: "_TrackedSocket") -> None:
        if self._pending.get(sock.peer) is not sock:
            return
        del self._pending[sock.peer]
        self.counts.pending -= 1
        source = sock.peer[0]
        left = self._pending_by_source[source] - 1
        if left:
            self._pending_by_source[source] = left
        else:
            del self._pending_by_source[source]

    def _closed(self, sock: "_TrackedSocket") -> None:
        self._settle(sock)
        self.counts.open -= 1

    # --- called by the listener ----------------------------------------------------------------

    def admitted(self, peer: tuple | None) -> None:
        """The connection from ``peer`` passed admission: it no longer counts as waiting."""
        sock = self._pending.get(peer) if peer else None
        if sock is not None:
            self._settle(sock)

    def pending_from(self, source: str) -> int:
        return self._pending_by_source.get(source, 0)


class _TrackedSocket(socket.socket):
    """An accepted connection; tells the tracker once when it closes."""

    tracker: ConnectionTracker | None = None
    peer: tuple = ()

    def close(self) -> None:
        tracker, self.tracker = self.tracker, None
        if tracker is not None:
            tracker._closed(self)
        super().close()


class _Listener(socket.socket):
    def __init__(self, tracker: ConnectionTracker, plain: socket.socket) -> None:
        super().__init__(plain.family, plain.type, plain.proto, fileno=plain.detach())
        self._tracker = tracker
        self._paused_until = 0.0

    def accept(self):  # noqa: ANN201 - socket.socket's signature
        tracker = self._tracker
        while True:
            if tracker._clock() < self._paused_until:
                raise BlockingIOError(errno.EAGAIN, "accepting paused: out of file descriptors")
            try:
                fd, peer = self._accept()
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS:
                    tracker.counts.out_of_descriptors += 1
                    self._paused_until = tracker._clock() + _ACCEPT_PAUSE
                raise
            refusal = tracker._refusal(peer[0])
            if refusal is not None:
                _close_fd(fd)
                tracker._on_refused(peer, *refusal)
                continue
            sock = _TrackedSocket(self.family, self.type, self.proto, fileno=fd)
            sock.tracker, sock.peer = tracker, peer
            tracker._accepted(sock, peer)
            accepted_peer.set(peer)
            return sock, peer


def _close_fd(fd: int) -> None:
    with socket.socket(fileno=fd) as sock:
        # Linger 0: a reset, and no TIME_WAIT left behind for a connection we never served.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class quiet_accept_errors:
    """Install on the loop: asyncio's "socket.accept() out of system resource" reports become one
    warning per ``interval`` (no traceback); every other report goes where it went before."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._loop = loop
        self._interval = interval
        self._clock = clock
        self._previous = loop.get_exception_handler()
        self._last = -interval
        self._held_back = 0
        self.reported = 0
        loop.set_exception_handler(self)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        if context.get("message") != ASYNCIO_ACCEPT_FAILURE:
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        now = self._clock()
        if now - self._last < self._interval:
            self._held_back += 1
            return
        exc = context.get("exception")
        more = f" ({self._held_back} more since the last warning)" if self._held_back else ""
        log.warning("cannot accept connections: %s; retrying every second%s. Raise RLIMIT_NOFILE or lower "
                    "[admission] max_connections", exc.strerror if isinstance(exc, OSError) else exc, more)
        self._last, self._held_back = now, 0
        self.reported += 1

    def remove(self) -> None:
        if self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._previous)


def ensure_descriptor_limit(limits: ConnectionLimits) -> int:
    """Raise the soft RLIMIT_NOFILE to what ``limits`` need; returns the soft limit in effect.
    Raises ``DescriptorLimitError`` naming the limit when the hard limit is too low."""
    needed = limits.descriptors_needed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise DescriptorLimitError(
                f"RLIMIT_NOFILE hard limit is {hard}, but [admission] max_connections {limits.max_connections} "
                f"+ file_descriptor_reserve {limits.descriptor_reserve} need {needed} file descriptors: raise "
                f"the limit (LimitNOFILE= in the systemd unit, ulimit -Hn) or lower max_connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        log.info("raised the soft RLIMIT_NOFILE from %d to %d for %d OCPP connections", soft, needed,
                 limits.max_connections)
        soft = needed
    return soft
