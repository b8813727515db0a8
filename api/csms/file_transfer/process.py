"""The file servers in a process of their own, at a lower CPU priority: what `chargeca serve` runs.

A fleet uploading logs moves gigabytes through TLS, SHA-256 and the disk. On threads of the
process that answers OCPP, that work competes for the GIL with the event loop (a hundred
HTTPS upload threads measured: Heartbeat p99 ×55 during the uploads); in a child process it
competes for CPU only, and niced (``NICENESS``) and, on Linux, in the SCHED_IDLE class, it yields
to the OCPP process whenever both want a core, so stations' messages keep their latency and bulk
transfers take what is left (scripts/bench_uploads.py). The child opens its own context on the
same settings (database, key store; the passphrase comes from the same environment or file),
serves the same directory, and picks up rotated server certificates from the database every
``TLS_POLL_SECONDS``, as the wss listener does for other processes' rotations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection

from api.core.context import Context, open_context
from api.core.settings import Settings
from api.csms.file_transfer.grants import Endpoints
from api.csms.file_transfer.service import FileService, FileServiceConfig
from api.csms.file_transfer.store import FileStore
from api.ocpp.transport.tls_material import TlsMaterial

log = logging.getLogger("chargeca.files")

NICENESS = 19
TLS_POLL_SECONDS = 60.0
START_TIMEOUT = 120.0


class FileServiceError(RuntimeError):
    """The file service process did not start; the message says why."""


class FileServiceProcess:
    """Same face as ``FileService`` (``endpoints``, ``store``, ``stop``), servers in a child process."""

    def __init__(self, ctx: Context, config: FileServiceConfig) -> None:
        self.config = config
        self.store = FileStore(ctx.settings.data_dir)
        self._settings = ctx.settings
        self._process: multiprocessing.process.BaseProcess | None = None
        self._control: Connection | None = None
        self.endpoints = Endpoints(config.public_name, None, None)

    def start(self) -> FileServiceProcess:
        """Blocking: until the child listens (or failed)."""
        spawn = multiprocessing.get_context("spawn")
        control, child_end = spawn.Pipe()
        self._process = spawn.Process(target=_serve_files, args=(self._settings, self.config, child_end),
                                      name="chargeca-files", daemon=True)
        self._process.start()
        child_end.close()
        self._control = control
        if not control.poll(START_TIMEOUT):
            self.stop()
            raise FileServiceError("the file service did not start in time")
        try:
            kind, *details = control.recv()
        except EOFError:
            kind, details = "error", ["the file service process exited"]
        if kind != "ready":
            self.stop()
            raise FileServiceError(f"file service: {details[0]}")
        self.endpoints = Endpoints(self.config.public_name, details[0], details[1])
        return self

    def stop(self) -> None:
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.send("stop")
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=5)
        if self._control is not None:
            self._control.close()
            self._control = None

    async def stop_async(self) -> None:
        await asyncio.to_thread(self.stop)


def _yield_cpu() -> None:
    """Lower this process below the OCPP process, before any thread starts (threads inherit it).

    Nice 19 alone weighs the scheduler's shares, but an OCPP process waking while a transfer
    runs may still wait for the transfer's slice to end. In SCHED_IDLE a waking normal task
    preempts at once, and the class still gets a sliver of a busy core, so transfers slow down
    but do not stop. Runs of scripts/bench_uploads.py (2026-12-05 15:49–17:04, the uploading
    stations in SCHED_IDLE too), Heartbeat p99 during the uploads against idle: FTP 1.06–2.22x
    with it (15 runs, median 1.64x), 2.73–4.34x without (3 runs, median 3.46x); HTTPS 1.09–2.64x
    (median 1.98x) with it, 1.50–3.48x (median 2.27x) without."""
    os.nice(NICENESS)
    if hasattr(os, "sched_setscheduler"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError as exc:  # a sandbox that forbids it: nice 19 still holds
            log.warning("the file service stays at nice %d only: SCHED_IDLE refused (%s)", NICENESS, exc)


def _serve_files(settings: Settings, config: FileServiceConfig, control: Connection) -> None:
    """The child: serve until the parent says stop or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole group: the parent stops us
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _yield_cpu()
    try:
        ctx = open_context(settings, run_migrations=False)
        tls = TlsMaterial(ctx)
        service = FileService(ctx, config, tls).start()
    except Exception as exc:  # noqa: BLE001 - the parent reports it
        control.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    control.send(("ready", service.endpoints.https_port, service.endpoints.ftp_port))
    try:
        while True:
            if control.poll(TLS_POLL_SECONDS):
                try:
                    control.recv()
                except EOFError:
                    pass
                break
            try:
                if tls.changed():
                    tls.reload()
                    service.reload_tls(tls)
            except Exception:
                log.exception("reloading the file service's TLS material failed")
    finally:
        service.stop()
