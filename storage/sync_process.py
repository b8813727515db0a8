"""Syncs carried out by a helper process (storage/fdatasync_helper.py), for storage/shared_sync.py.

On a thread (storage/sync_thread.py), a sync waits for the interpreter's lock twice, when the
thread wakes and when its fdatasync returns, each time against a busy event loop that keeps it
up to ``sys.getswitchinterval()``: measured on the gateway benchmark's charging phase
(PostgreSQL, a thousand TransactionEvents a second), 0.4 ms at the median and 5-6 ms at the
99th percentile for the wake alone, and a median sync of 1 ms for an fdatasync of ~50 µs. A
process has no lock to wait for. Here the loop writes the held entries itself (over zeros
written ahead: no metadata to wait for, storage/journal.py), sends the helper a byte, and learns
of the end from the helper's answer on a pipe it watches with the rest of its sockets.

Should the helper end (killed, or failing to start), the syncs go on a thread from then on
(``fallback``), the sync asked for and unanswered included: its waiters are still owed it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from storage.shared_sync import CLOSE_WAIT, Done
from storage.sync_thread import SyncThread

log = logging.getLogger("chargeca.storage.sync_process")

HELPER = Path(__file__).with_name("fdatasync_helper.py")


class SyncProcess:
    def __init__(self, fd: int, *, write: Callable[[], None], fallback: Callable[[], None],
                 name: str = "journal-sync") -> None:
        """``fd``: the file the helper syncs. ``write``: on the loop, before each sync is asked
        for (the journal's held entries written). ``fallback``: a sync on a thread, writing
        included, should the helper end."""
        self._fd = fd
        self._write = write
        self._fallback = fallback
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: Done | None = None
        self._process: subprocess.Popen | None = None
        self._request = self._reply = -1
        self._asked = 0                      # syncs asked of the helper and not answered
        self._thread: SyncThread | None = None

    @property
    def pid(self) -> int | None:
        """The helper's, while it serves."""
        return self._process.pid if self._process is not None and self._thread is None else None

    def start(self, done: Done) -> None:
        self._loop, self._done = asyncio.get_running_loop(), done
        request_read, self._request = os.pipe()
        self._reply, reply_write = os.pipe()
        try:
            self._process = subprocess.Popen([sys.executable, "-I", "-S", str(HELPER), str(self._fd)],
                                             stdin=request_read, stdout=reply_write, pass_fds=(self._fd,))
        except OSError as exc:
            log.error("the %s helper did not start (%s): syncing on a thread", self._name, exc)
            os.close(self._request)
            os.close(self._reply)
            self._request = self._reply = -1
            self._start_thread()
            return
        finally:
            os.close(request_read)
            os.close(reply_write)
        os.set_blocking(self._reply, False)
        self._loop.add_reader(self._reply, self._answered)
        log.info("the %s helper runs as pid %d", self._name, self._process.pid)

    def submit(self) -> None:
        if self._thread is not None:
            self._thread.submit()
            return
        assert self._loop is not None and self._done is not None
        try:
            self._write()
        except OSError as exc:   # a full disk: nothing to sync, this sync's waiters get why
            self._loop.call_soon(self._done, exc)
            return
        self._asked += 1
        try:
            os.write(self._request, b"s")
        except BrokenPipeError:
            self._gone()

    async def aclose(self) -> None:
        if self._thread is not None:
            await self._thread.aclose()
        if self._request >= 0:
            self._stop_watching()
        if self._process is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(self._process.wait), CLOSE_WAIT)
            except TimeoutError:
                self._process.kill()
                await asyncio.to_thread(self._process.wait)
            self._process = None

    def _answered(self) -> None:
        try:
            answers = os.read(self._reply, 4096)
        except BlockingIOError:
            return
        if not answers:
            self._gone()
            return
        assert self._done is not None
        for status in answers:
            self._asked -= 1
            self._done(None if status == 0 else OSError(status, os.strerror(status)))

    def _gone(self) -> None:
        """The helper ended: the syncs go on a thread, the one it left unanswered first."""
        assert self._process is not None
        self._stop_watching()
        log.error("the %s helper (pid %d) ended (exit code %s): syncing on a thread from now on",
                  self._name, self._process.pid, self._process.poll())
        self._start_thread()
        assert self._thread is not None
        for _ in range(self._asked):
            self._thread.submit()
        self._asked = 0

    def _start_thread(self) -> None:
        assert self._done is not None
        self._thread = SyncThread(self._fallback, name=self._name)
        self._thread.start(self._done)

    def _stop_watching(self) -> None:
        assert self._loop is not None
        self._loop.remove_reader(self._reply)
        os.close(self._request)
        os.close(self._reply)
        self._request = self._reply = -1
