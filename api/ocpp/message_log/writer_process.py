"""The gateway's side of the message log's writer process (writer_helper.py says what it does
and why it is a process).

``store(frames)`` sends a batch of queued frames, in parts (``PART`` frames each, the event loop
serving stations between parts), and waits for the helper's answer; only one batch is in flight
at a time (the recorder writes its batches one after the other). The helper starts at the first
batch: a gateway that logs nothing starts none.

A helper that ends, or cannot start, raises ``WriterGone``: the recorder then writes on a thread,
as it did before the helper existed. A batch the helper could not store raises ``StoreFailed``
with the database's reason: the recorder counts it lost, as a failed write on a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
import sys
from collections.abc import Callable
from pathlib import Path

from api.ocpp.message_log.writer_helper import HEADER, encode

log = logging.getLogger("chargeca.ocpp.message_log")

# ~0.1 ms of marshalling on the loop for TransactionEvents' frames: the longest a station's frame
# waits behind a part.
PART = 512
# How long a close waits for the helper to write what it holds before it is killed.
CLOSE_WAIT = 10.0
_ROOT = Path(__file__).resolve().parents[3]
# -I: no environment variable or user site changes what the helper runs; the project's root is
# put on its path instead, as the gateway found its own modules there.
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from api.ocpp.message_log.writer_helper import main; main()"

Target = Callable[[], "tuple[str, str]"]


class WriterGone(Exception):
    """The helper ended, or never started: the batch in flight may or may not be stored."""


class StoreFailed(Exception):
    """The helper could not store a batch (its database's error)."""


class WriterProcess:
    def __init__(self, target: Target, *, max_frame_bytes: int, key: bytes) -> None:
        """``target``: where the log goes (storage/message_log.py ``helper_target``), asked on a
        worker thread when the helper starts (it may create the log's file)."""
        self._target = target
        self._settings = {"max_frame_bytes": max_frame_bytes, "key": key}
        self._process: asyncio.subprocess.Process | None = None
        self._ending: asyncio.Future | None = None   # a helper given up on a cancelled store, being ended

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def store(self, frames: list[tuple]) -> int:
        """Store ``frames`` (rows.py's queued frames); how many rows were stored."""
        process = self._process or await self._start()
        try:
            for start in range(0, len(frames), PART):
                process.stdin.write(_encoded_part(frames[start:start + PART]))
                await process.stdin.drain()
                await asyncio.sleep(0)
            process.stdin.write(encode(("store",)))
            await process.stdin.drain()
            reply = await _read_reply(process.stdout)
        except asyncio.CancelledError:
            # Half a batch sent, or an answer unread: the next batch cannot follow on this helper.
            self._process = None
            self._ending = asyncio.ensure_future(_end(process))
            raise
        except (OSError, asyncio.IncompleteReadError, ValueError, EOFError, TypeError) as exc:
            self._process = None
            await _end(process, wait=1.0)
            raise WriterGone(f"the message log's writer process ended (exit code {process.returncode})") from exc
        if reply[0] == "failed":
            raise StoreFailed(reply[2])
        return reply[1]

    async def _start(self) -> asyncio.subprocess.Process:
        try:
            dialect, target = await asyncio.to_thread(self._target)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-c", _BOOT, str(_ROOT), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE)
        except (OSError, ValueError) as exc:
            raise WriterGone(f"the message log's writer process could not start: {exc}") from exc
        process.stdin.write(encode({**self._settings, "dialect": dialect, "target": target}))
        self._process = process
        return process

    async def aclose(self) -> None:
        """Let the helper end once it has written what it holds; killed after ``CLOSE_WAIT``."""
        process, self._process = self._process, None
        if self._ending is not None:
            await self._ending
        if process is None:
            return
        process.stdin.close()
        if await _end(process, wait=CLOSE_WAIT):
            log.error("message log: its writer process did not end within %g s of its close; killed", CLOSE_WAIT)


def _encoded_part(frames: list[tuple]) -> bytes:
    try:
        return encode(("frames", frames))
    except ValueError:
        # A str subclass (an action as the ocpp package's enum): marshal takes exact types only.
        return encode(("frames", [tuple(str.__str__(value) if isinstance(value, str) else value for value in frame)
                                  for frame in frames]))


async def _end(process: asyncio.subprocess.Process, *, wait: float = 0.0) -> bool:
    """Once the helper has ended by itself within ``wait`` seconds, or been killed (True); its
    pipes read to their end, so that nothing of it outlives the event loop."""
    killed = False
    try:
        await asyncio.wait_for(process.wait(), wait)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
            killed = True
        await process.wait()
    process.stdin.close()
    with contextlib.suppress(OSError):
        await process.stdout.read()
    await asyncio.sleep(0)   # the transport's own close, scheduled once every pipe ended
    return killed


async def _read_reply(stdout: asyncio.StreamReader) -> tuple:
    (size,) = HEADER.unpack(await stdout.readexactly(HEADER.size))
    reply = marshal.loads(await stdout.readexactly(size))
    if not isinstance(reply, tuple) or reply[0] not in ("stored", "failed"):
        raise ValueError(f"not an answer of the message log's writer: {reply!r:.80}")
    return reply
