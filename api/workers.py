"""`chargeca serve --workers N`: N processes of one machine serve the same ports and database.

Python runs one core per process; a machine's other cores serve stations only in processes of
their own. Each worker is the whole of `chargeca serve` (api/server.py): OCPP listeners, REST
API, file service, background workers, as one node of the cluster (node id ``<node>-w<i>``, so a
restarted worker takes over at once what its predecessor left on the wire, storage/leases.py).
Every worker binds every port with SO_REUSEPORT and the kernel spreads new connections over them;
the supervisor (this module, the process the operator started) holds a bound, never listening
socket on each port for its whole life (``PortReservation``): port 0 becomes one concrete port
all workers bind, a port in use is named before any worker starts, and no other program takes a
port while a dead worker waits for its restart. FTP passive ports are the exception: a data
connection must reach the worker that offered it, so each worker gets its own slice of the range.

The first-run PKI creation and the migrations happen once, in the supervisor, before any worker
starts. Several processes on one database need PostgreSQL (SQLite serialises writers across
processes) and the cluster's message bus (a CSMS call made on one worker reaches a station held
by another only through it): without both, ``worker_count`` refuses more than one.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait

from api.core.settings import Settings
from api.csms.file_transfer.service import parse_port_range
from policies.model import FileTransferPolicy

log = logging.getLogger("chargeca.workers")

BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0     # seconds before restarting a worker that died, doubling
STABLE_AFTER = 60.0                        # a worker up this long starts its next backoff from the first
START_TIMEOUT = 180.0                      # every worker listening, or the start failed
STOP_TIMEOUT = 60.0                        # SIGTERM, then SIGKILL for what still runs
_TICK = 0.5
_PR_SET_PDEATHSIG = 1


class WorkersRefused(ValueError):
    """The number of workers asked for cannot run on this configuration; the message says why."""


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def worker_count(settings: Settings, asked: int | None) -> int:
    """``asked`` when this configuration can run it; None: one per core on PostgreSQL with a
    message bus, else one (SQLite, the embedded default, stays a single process)."""
    if asked is None:
        return available_cores() if settings.uses_postgresql and settings.nats_url else 1
    if asked < 1:
        raise WorkersRefused(f"--workers must be 1 or more, not {asked}")
    if asked > 1 and not settings.uses_postgresql:
        raise WorkersRefused(f"--workers {asked} needs PostgreSQL (CHARGECA_DATABASE_URL=postgresql://…): the "
                             "embedded SQLite database serves one process; run without --workers, or with --workers 1")
    if asked > 1 and not settings.nats_url:
        raise WorkersRefused(f"--workers {asked} needs the cluster's message bus (CHARGECA_NATS_URL=nats://…): "
                             "a CSMS call made on one worker reaches a station held by another only through it")
    return asked


@dataclass(frozen=True)
class WorkerPlan:
    """What every worker runs on: the shared settings with concrete ports, and how many."""

    base: Settings
    count: int

    def settings(self, index: int) -> Settings:
        passive = parse_port_range(self.base.ftp_passive_ports)
        if passive is not None:
            share = len(passive) // self.count
            first = passive.start + index * share
            passive_text = f"{first}-{first + share - 1}"
        else:
            passive_text = ""
        return replace(self.base, node_id=f"{self.base.node_id}-w{index}", shared_ports=True,
                       ftp_passive_ports=passive_text)

    def node_ids(self) -> list[str]:
        return [self.settings(i).node_id for i in range(self.count)]


class PortReservation:
    """One bound, never listening SO_REUSEPORT socket per shared port (see the module doc)."""

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []

    def hold(self, host: str, port: int, what: str) -> int:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise WorkersRefused(f"{what} port {port} on {host}: {exc.strerror}") from None
        self._sockets.append(sock)
        return sock.getsockname()[1]

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()


_MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req"


def unaccepted_connections_advice(setting: str = _MIGRATE_REQ) -> str | None:
    """What the operator should know when a dying worker's queued connections would be reset.

    A connection the kernel has completed but the worker not yet accepted sits in that worker's
    own SO_REUSEPORT queue; when the worker dies, the kernel resets it unless
    ``net.ipv4.tcp_migrate_req`` (Linux 5.14 and newer) tells it to hand such connections to
    another socket of the same port. None when it does, or when this kernel cannot be asked.
    """
    try:
        with open(setting) as f:
            value = f.read().strip()
    except OSError:
        return None
    if value != "0":
        return None
    return ("net.ipv4.tcp_migrate_req is 0: connections a worker has not yet accepted when it dies are reset; "
            "'sysctl -w net.ipv4.tcp_migrate_req=1' hands them to the other workers")


def plan_workers(settings: Settings, count: int, files: FileTransferPolicy, ports: PortReservation) -> WorkerPlan:
    """Reserve every port the workers share (port 0: a free one, the same for all) and split the
    FTP passive range between them."""
    held = dict(
        rest_port=ports.hold(settings.rest_host, settings.rest_port, "REST"),
        ocpp_ws_port=ports.hold(settings.ocpp_host, settings.ocpp_ws_port, "OCPP ws"),
        ocpp_wss_port=ports.hold(settings.ocpp_host, settings.ocpp_wss_port, "OCPP wss"))
    if files.https_enabled:
        held["files_https_port"] = ports.hold(settings.files_host or settings.ocpp_host, settings.files_https_port,
                                              "HTTPS file service")
    if files.ftp_enabled:
        held["ftp_port"] = ports.hold(settings.ftp_host or settings.ocpp_host, settings.ftp_port, "FTP")
        passive = parse_port_range(settings.ftp_passive_ports)
        if passive is not None and len(passive) < count:
            raise WorkersRefused(f"CHARGECA_FTP_PASSIVE_PORTS {settings.ftp_passive_ports} has {len(passive)} ports "
                                 f"for {count} workers: each worker needs a slice of its own")
    return WorkerPlan(replace(settings, **held), count)


# --- the workers --------------------------------------------------------------------------------


def _worker_main(settings: Settings, control: Connection, supervisor: int) -> None:
    """A worker process: `chargeca serve` on its settings; says "ready" once it listens."""
    with contextlib.suppress(OSError, AttributeError):
        # The supervisor killed outright: its workers stop too, instead of serving on unsupervised.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:
        return
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s %(levelname)s [{settings.node_id}] %(name)s: %(message)s")
    from api.server import serve_worker

    serve_worker(settings, ready=lambda: control.send("ready"))


@dataclass
class _Worker:
    index: int
    settings: Settings
    process: multiprocessing.process.BaseProcess | None = None
    control: Connection | None = None
    started_at: float = 0.0
    ready: bool = False
    crashes: int = 0           # in a row, without a stable run between
    restart_at: float | None = None
    generation: int = 0


class Supervisor:
    """Starts the workers, restarts one that dies (with backoff), stops them all on SIGTERM/SIGINT."""

    def __init__(self, plan: WorkerPlan, *, on_ready=lambda: None) -> None:
        self._spawn = multiprocessing.get_context("spawn")
        self._workers = [_Worker(i, plan.settings(i)) for i in range(plan.count)]
        self._on_ready = on_ready
        self._stopping: int | None = None
        self._failure: str | None = None

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process is not None and w.process.pid is not None]

    def run(self) -> int:
        """Until a signal (exit code 0) or a worker that fails its first start (1)."""
        previous = {sig: signal.signal(sig, self._signalled) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for worker in self._workers:
                self._start(worker)
            self._supervise()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._failure:
            log.error("%s", self._failure)
            return 1
        return 0

    def _signalled(self, signum: int, _frame) -> None:
        self._stopping = signum

    def _start(self, worker: _Worker) -> None:
        control, child_end = self._spawn.Pipe(duplex=False)
        process = self._spawn.Process(target=_worker_main, args=(worker.settings, child_end, os.getpid()),
                                      name=f"chargeca-{worker.settings.node_id}")
        process.start()
        child_end.close()
        worker.process, worker.control, worker.ready = process, control, False
        worker.started_at, worker.restart_at = time.monotonic(), None
        worker.generation += 1

    def _supervise(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        announced = False
        while self._stopping is None and self._failure is None:
            waiting = {w.control: w for w in self._workers if w.control is not None}
            exits = {w.process.sentinel: w for w in self._workers if w.process is not None}
            for ready in wait([*waiting, *exits], timeout=_TICK):
                if ready in waiting:
                    self._heard(waiting[ready])
                elif ready in exits:
                    self._exited(exits[ready], announced)
            now = time.monotonic()
            for worker in self._workers:
                if worker.restart_at is not None and now >= worker.restart_at and self._stopping is None:
                    log.info("restarting worker %s", worker.settings.node_id)
                    self._start(worker)
            if not announced and all(w.ready for w in self._workers):
                announced = True
                log.info("%d workers serving: %s", len(self._workers),
                         ", ".join(f"{w.settings.node_id} (pid {w.process.pid})" for w in self._workers))
                self._on_ready()
            elif not announced and now > deadline:
                self._failure = f"the workers did not all start within {START_TIMEOUT:.0f} s"

    def _heard(self, worker: _Worker) -> None:
        try:
            worker.control.recv()
        except EOFError:
            worker.control.close()
            worker.control = None
            return
        worker.ready = True
        if worker.generation > 1:
            log.info("worker %s serving again (pid %s)", worker.settings.node_id, worker.process.pid)

    def _exited(self, worker: _Worker, announced: bool) -> None:
        process = worker.process
        process.join()
        code = process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        worker.process = None
        if worker.control is not None:
            worker.control.close()
            worker.control = None
        if self._stopping is not None:
            return
        if not announced:
            self._failure = (f"worker {worker.settings.node_id} did not start ({how}); its output above says why")
            return
        uptime = time.monotonic() - worker.started_at
        worker.crashes = 1 if uptime >= STABLE_AFTER else worker.crashes + 1
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (worker.crashes - 1))
        worker.restart_at = time.monotonic() + delay
        log.warning("worker %s (pid %s) died after %.0f s (%s); restarting it in %.0f s",
                    worker.settings.node_id, process.pid, uptime, how, delay)

    def _stop_all(self) -> None:
        running = [w.process for w in self._workers if w.process is not None and w.process.is_alive()]
        if self._stopping is not None:
            log.info("%s: stopping %d workers", signal.Signals(self._stopping).name, len(running))
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("worker %s did not stop within %.0f s: killed", process.name, STOP_TIMEOUT)
                process.kill()
                process.join()
        for worker in self._workers:
            if worker.control is not None:
                worker.control.close()
                worker.control = None


__all__ = ["PortReservation", "Supervisor", "WorkerPlan", "WorkersRefused", "available_cores", "plan_workers",
           "worker_count"]
