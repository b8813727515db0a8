"""The message log's recorder: every frame of every station session, off the request path.

The session hands each frame to ``received`` (station → CSMS, once per frame read, broken ones
included) or ``sent`` (CSMS → station, once per frame written); nothing else in the engine
knows the log exists. On the event loop a frame costs a quota check and a tuple appended to a
deque: redaction, truncation and the insert (rows.py) happen in the background writer, one batch
per ``flush_interval`` (5 s, or sooner once 8,000 frames wait), in a transaction of its own (on
SQLite in a file of its own: storage/message_log.py ``message_log_engine``). The writer is a
process of its own (writer_helper.py says why) when the recorder is given where it writes
(``in_process``), else a worker thread; a thread also when that process ends.

Bounded everywhere (README "OCPP message log"): frames per station and UTC day (broken frames on
an allowance of their own), frames waiting for the writer (when it falls behind, a frame is
dropped and counted, never waited for), bytes kept per frame. A write that fails (database away)
drops its batch and counts it: the log is a diagnostic, not a record the station relies on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from api.core.failure_log import woken_or_after
from api.ocpp import metrics
from api.ocpp.framing import UNKNOWN_ID, Call, CallError, CallResult, FrameError
from api.ocpp.message_log.rows import FrameRows
from api.ocpp.message_log.writer_process import Target, WriterGone, WriterProcess
from policies.model import MessageLogPolicy
from storage.gil_slices import in_slices
from storage.message_log_append import CALL, CALLERROR, CALLRESULT, IN, MALFORMED, OUT

log = logging.getLogger("chargeca.ocpp.message_log")

Write = Callable[[Sequence[tuple]], Awaitable[Any]]
QUEUE_FULL, STATION_QUOTA, WRITE_FAILED = "queue_full", "station_quota", "write_failed"
_DAY = 86400


class MessageLog:
    def __init__(self, policy: MessageLogPolicy, write: Write, *, flush_interval: float = 5.0,
                 flush_rows: int = 8000, key: bytes | None = None, in_process: Target | None = None) -> None:
        """``write``: stores rows on a worker thread. ``in_process``: where a writer process
        stores them instead (storage/message_log.py ``helper_target``). ``key``: the
        pseudonyms' (redaction.py), one per run by default."""
        self._policy = policy
        self._write = write
        self._flush_interval = flush_interval
        self._flush_rows = flush_rows
        key = key or secrets.token_bytes(32)
        self._rows = FrameRows(policy.max_frame_bytes, key)
        self._process = None if in_process is None else \
            WriterProcess(in_process, max_frame_bytes=policy.max_frame_bytes, key=key)
        self._queue: deque[tuple] = deque()
        self._max_queued = policy.max_queued_frames
        self._day_ends = 0.0
        self._max_per_day = policy.max_frames_per_station_per_day
        self._frames_today: dict[str, int] = {}
        self._malformed_today: dict[str, int] = {}
        self._writer: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self.written = 0
        self.dropped: dict[str, int] = {QUEUE_FULL: 0, STATION_QUOTA: 0, WRITE_FAILED: 0}
        self._warned_at = 0.0

    @property
    def queued(self) -> int:
        return len(self._queue)

    # --- on the event loop: called by the session ---------------------------------------------

    def received(self, station_id: str, raw: str | bytes, frame: Call | CallResult | CallError | FrameError,
                 answered_action: str | None) -> None:
        """A frame read from the station; ``answered_action``: the action of our CALL that a
        CALLRESULT/CALLERROR answers, when it answers the outstanding one."""
        if isinstance(frame, Call):
            self._enqueue(station_id, IN, CALL, frame.message_id, frame.action, raw)
        elif isinstance(frame, CallResult):
            self._enqueue(station_id, IN, CALLRESULT, frame.message_id, answered_action, raw)
        elif isinstance(frame, CallError):
            self._enqueue(station_id, IN, CALLERROR, frame.message_id, answered_action, raw)
        else:
            message_id = None if frame.message_id == UNKNOWN_ID else frame.message_id
            self._enqueue(station_id, IN, MALFORMED, message_id, None, raw)

    def unread(self, station_id: str, size: int) -> None:
        """A frame refused unread (over the listener's read ceiling): kept as its size, flagged
        truncated, no text."""
        self._enqueue(station_id, IN, MALFORMED, None, None, size)

    def sent(self, station_id: str, text: str, frame: Call | CallResult | CallError, action: str | None) -> None:
        """A frame about to be written to the station; ``action``: the CALL's, or the action of
        the station's CALL a CALLRESULT/CALLERROR answers."""
        kind = CALL if isinstance(frame, Call) else CALLRESULT if isinstance(frame, CallResult) else CALLERROR
        message_id = None if frame.message_id == UNKNOWN_ID else frame.message_id
        self._enqueue(station_id, OUT, kind, message_id, action, text)

    def _enqueue(self, station_id: str, direction: str, kind: str, message_id: str | None, action: str | None,
                 text: str | bytes | int) -> None:
        queue = self._queue
        if len(queue) >= self._max_queued:
            self._drop(QUEUE_FULL)
            return
        now = time.time()
        if now >= self._day_ends:
            self._day_ends = (now // _DAY + 1) * _DAY
            self._frames_today.clear()
            self._malformed_today.clear()
        if kind is MALFORMED:
            counts, allowance = self._malformed_today, self._policy.max_malformed_per_station_per_day
        else:
            counts, allowance = self._frames_today, self._max_per_day
        count = counts.get(station_id, 0)
        if count >= allowance:
            self._drop(STATION_QUOTA)
            return
        counts[station_id] = count + 1
        queue.append((station_id, direction, kind, message_id, action, now, text))
        if len(queue) == self._flush_rows:
            self._wake.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name="message-log-writer")

    def _drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] += count
        metrics.message_log_dropped(reason, count)

    # --- the background writer ------------------------------------------------------------------

    async def _drain(self) -> None:
        """Write what is queued, a batch per flush interval, until the queue is empty (an idle
        gateway holds no writer task), or sooner once ``flush_rows`` wait. Large batches on purpose:
        every commit rewrites each page of the per-station index it touches, and with a thousand
        stations a batch touches most of them whatever its size (on SQLite, measured: ~27 µs of
        CPU per row at 500 rows a commit, ~20 at 2,000, ~11 at 8,000, half of it the kernel's
        copying of WAL pages)."""
        try:
            while self._queue:
                await woken_or_after(self._wake, self._flush_interval)
                self._wake.clear()
                batch, self._queue = self._queue, deque()
                await self._write_batch(batch)
        finally:
            self._writer = None

    async def _write_batch(self, batch: deque[tuple]) -> None:
        try:
            written = await self._store(list(batch))
        except Exception:  # noqa: BLE001 - the log must never take the gateway down with it
            self._drop(WRITE_FAILED, len(batch))
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning("message log: %d frames could not be written and were dropped", len(batch),
                            exc_info=True)
            return
        self.written += written
        metrics.message_log_written(written)

    async def _store(self, batch: list[tuple]) -> int:
        if self._process is not None:
            try:
                return await self._process.store(batch)
            except WriterGone as exc:
                # The batch again on the thread: stored twice, rather than lost, should the
                # process have ended between its commit and its answer.
                log.error("message log: %s; its frames are written on a thread from now on", exc)
                process, self._process = self._process, None
                await process.aclose()
        rows = await asyncio.to_thread(self.rows, batch)
        await self._write(rows)
        return len(rows)

    def rows(self, batch: Sequence[tuple]) -> list[tuple]:
        """The rows to insert for queued frames (rows.py). Blocking CPU work: a worker thread's,
        never the event loop's, in slices that let the loop run between them
        (storage/gil_slices.py)."""
        rows: list[tuple] = []
        for part in in_slices(batch if isinstance(batch, list) else list(batch)):
            rows += self._rows(part)
        return rows

    async def flush(self) -> None:
        """Write everything queued now (tests, shutdown)."""
        while self._writer is not None:
            self._wake.set()
            await asyncio.shield(self._writer)
        if self._queue:
            batch, self._queue = self._queue, deque()
            await self._write_batch(batch)

    async def aclose(self) -> None:
        await self.flush()
        if self._process is not None:
            await self._process.aclose()
        level = logging.WARNING if any(self.dropped.values()) else logging.INFO
        log.log(level, "message log: %d frames written, dropped %s", self.written, json.dumps(self.dropped))
