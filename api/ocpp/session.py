"""One station connection's OCPP-J conversation.

Three things run per connection and none waits on another:
- the receive loop reads frames, answers broken ones, queues station CALLs and hands
  CALLRESULT/CALLERROR frames to the CSMS call waiting for them;
- the handler worker answers the station's CALLs in arrival order (it exists only while there
  are CALLs to answer: an idle station, the usual case, holds no task and no queue for it);
- CSMS-initiated calls (``call``) go out one at a time (P4 §4.1.1: one outstanding CALL per
  direction); later ones queue behind the outstanding one. Station CALLs keep being answered
  while a CSMS call is outstanding — the two may cross.

So a handler can never stall the receive loop, and a CSMS call can never wait on a handler
(the trap of the ``ocpp`` library's ChargePoint: docs/architecture.md, "Traps of the ocpp library").
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from websockets.exceptions import ConnectionClosed, PayloadTooBig

from api.core.context import Context
from api.core.refusal import Refusal
from api.core.settings import GatewayConfig
from api.ocpp import framing, metrics
from api.ocpp.boot import BootGate
from api.ocpp.framing import Call, CallError, CallResult, ErrorCode, FrameError, OcppError
from api.ocpp.handler import Connection, Handler, LiveState, StationCall, refusal_error
from api.ocpp.message_log.recorder import MessageLog
from api.ocpp.transport.disconnects import close_reason
from api.ocpp.validation import Schemas
from storage.batching import GroupCommit
from storage.spool import Spool
from storage.write_behind import WriteBehind

log = logging.getLogger("chargeca.ocpp")

ANSWERED, ERROR, TIMEOUT, NOT_CONNECTED = "answered", "error", "timeout", "not_connected"
# WebSocket close code 1008: policy violation (RFC 6455 §7.4.1).
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009


@dataclass(frozen=True)
class CallOutcome:
    """How a CSMS-initiated call ended.

    ``sent`` tells whether the request reached the wire: a timeout with ``sent`` False means the
    station never saw it; with ``sent`` True the station may have acted on it (outcome unknown).
    ``response`` is the answer's payload; with status ``error`` it is present only when the
    station did answer but the answer broke the schema (so it may have acted on the request).
    """

    status: str
    response: dict[str, Any] | None = None
    error_code: str | None = None
    description: str = ""
    sent: bool = False


def _larger(raw: str | bytes, limit: int) -> bool:
    # Characters never outnumber UTF-8 bytes, nor do bytes exceed four per character.
    if len(raw) > limit or isinstance(raw, bytes):
        return len(raw) > limit
    return len(raw) * 4 > limit and len(raw.encode("utf-8", "surrogatepass")) > limit


class _Lost(Exception):
    """The connection closed while a CSMS call waited for its answer."""


class OcppSession:
    def __init__(self, connection: Connection, *, ctx: Context, config: GatewayConfig,
                 schemas: Schemas, routes: Mapping[str, Handler], boot: BootGate,
                 on_ready: Callable[[OcppSession], None] = lambda session: None,
                 group: GroupCommit | None = None, spool: Spool | None = None,
                 message_log: MessageLog | None = None, write_behind: WriteBehind | None = None) -> None:
        self.connection = connection
        self.boot = boot
        self.live = LiveState()
        self.connected_at = datetime.now(timezone.utc)
        self._on_ready = on_ready
        self._ws = connection.websocket
        self._ctx = ctx
        self._config = config
        self._schemas = schemas
        self._routes = routes
        self._group = group
        self._spool = spool
        self._write_behind = write_behind
        self._inbox: deque[tuple[Call, float]] = deque()   # with when each was read
        self._worker: asyncio.Task | None = None
        self._slot = asyncio.Lock()  # FIFO: CSMS calls leave in the order they were made
        self._outstanding: tuple[str, asyncio.Future] | None = None
        self._outstanding_action: str | None = None
        self._log = message_log
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    @property
    def station_id(self) -> str:
        return self.connection.station_id

    @property
    def closed(self) -> bool:
        return self._closed

    # --- the connection's life ---------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes."""
        if self.boot.ready:
            self._on_ready(self)
        try:
            async for raw in self._ws:
                await self._on_frame(raw)
        except ConnectionClosed:
            pass
        finally:
            self._closed = True
            self._log_unread_frame()
            if self._worker is not None:
                self._worker.cancel()
            if self._outstanding is not None and not self._outstanding[1].done():
                self._outstanding[1].set_exception(_Lost())
            for task in list(self._tasks):
                task.cancel()

    async def close(self, reason: str) -> None:
        log.warning("closing connection of %s: %s", self.station_id, reason)
        self._closed = True
        # Cut by bytes: a reason naming what a station sent (a serialNumber of 4-byte characters)
        # passed the close frame's 123 bytes at 120 characters, and closing raised instead.
        await self._ws.close(POLICY_VIOLATION, close_reason(reason))

    async def _send(self, frame: framing.Frame, action: str | None) -> None:
        """The one way out; ``action``: the CALL's, or that of the station CALL it answers."""
        text = framing.serialize(frame)
        if self._log is not None:
            self._log.sent(self.station_id, text, frame, action)
        await self._ws.send(text)

    def _read(self, raw: str | bytes) -> framing.Frame | FrameError:
        """The one way in: the frame, or why it cannot be used."""
        try:
            frame: framing.Frame | FrameError = framing.parse(raw)
        except FrameError as exc:
            frame = exc
        if self._log is not None:
            answered = None
            if not isinstance(frame, Call) and self._outstanding is not None \
                    and self._outstanding[0] == frame.message_id:
                answered = self._outstanding_action
            self._log.received(self.station_id, raw, frame, answered)
        return frame

    def _log_unread_frame(self) -> None:
        # A frame over the listener's read ceiling closed the connection unread: its size is all
        # there is to log of it.
        refused = getattr(getattr(self._ws, "protocol", None), "parser_exc", None)
        if self._log is not None and isinstance(refused, PayloadTooBig):
            self._log.unread(self.station_id, refused.size or refused.max_size or 0)

    async def _on_frame(self, raw: str | bytes) -> None:
        limit = self.connection.max_frame
        if limit is not None and _larger(raw, limit):
            self._read(raw)  # logged as any frame read, cut to the log's max_frame_bytes
            log.warning("%s sent a frame over %d bytes; closing", self.station_id, limit)
            self._closed = True
            await self._ws.close(MESSAGE_TOO_BIG, f"frame over {limit} bytes")
            return
        frame = self._read(raw)
        if isinstance(frame, FrameError):
            exc = frame
            if (times := self.live.repeats.log_line("broken_frame")) is not None:
                log.info("broken frame from %s: %s %s%s", self.station_id, exc.code, exc.description, times)
            if exc.answerable:
                await self._send(framing.error_for(exc.message_id, exc), None)
            else:
                # A broken answer still ends the call it answers, as an error.
                self._resolve(CallError(exc.message_id, exc.code, f"station sent a broken answer: {exc.description}"))
            return
        if isinstance(frame, Call):
            if len(self._inbox) >= self._config.max_pending_station_calls:
                await self._send(CallError(frame.message_id, ErrorCode.RPC_FRAMEWORK_ERROR,
                                           "too many CALLs without waiting for their answers (P4 §4.1.1)"),
                                 frame.action)
                return
            self._inbox.append((frame, time.monotonic()))
            if self._worker is None:
                self._worker = asyncio.create_task(self._answer_calls(), name=f"ocpp-handlers-{self.station_id}")
            return
        self._resolve(frame)

    def _resolve(self, frame: CallResult | CallError) -> None:
        outstanding = self._outstanding
        if outstanding is None or outstanding[0] != frame.message_id or outstanding[1].done():
            # A late answer to a call that timed out, or a stray id: nothing waits for it, and
            # answering a CALLRESULT/CALLERROR with a CALLERROR is not allowed (P4 §4.2).
            if (times := self.live.repeats.log_line("stray_answer")) is not None:
                log.info("%s answered unknown or expired message id %s%s", self.station_id, frame.message_id, times)
            return
        outstanding[1].set_result(frame)

    # --- station-initiated CALLs -------------------------------------------------------------

    async def _answer_calls(self) -> None:
        try:
            while self._inbox and not self._closed:
                if not await self._answer_next(*self._inbox.popleft()):
                    return
        finally:
            self._worker = None

    async def _answer_next(self, call: Call, read_at: float) -> bool:
        """Answer one CALL, read at ``read_at`` (the monotonic clock); False when the connection is done for."""
        station_call = StationCall(self._ctx, self._config, self.connection, self.boot, self.live,
                                   group=self._group, spool=self._spool, write_behind=self._write_behind,
                                   frame=call.text)
        was_ready = self.boot.ready
        reply = await self._answer(call, station_call)
        known = self._schemas.knows(call.action)
        metrics.station_call_answered(call.action, known, reply)
        if station_call.disconnect_reason:
            await self.close(station_call.disconnect_reason)
            return False
        try:
            await self._send(reply, call.action)
        except ConnectionClosed:
            return False
        metrics.station_call_held(call.action, known, time.monotonic() - read_at)
        for follow_up in station_call.follow_ups:
            self.spawn(follow_up())
        if self.boot.ready and not was_ready:
            self._on_ready(self)
        return True

    async def _answer(self, call: Call, station_call: StationCall) -> framing.Frame:
        try:
            handler = self._routes.get(call.action)
            if handler is None:
                if self._schemas.knows(call.action):
                    raise OcppError(ErrorCode.NOT_SUPPORTED, f"{call.action} is not supported by this CSMS")
                raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"unknown action {call.action!r}")
            self.boot.admit(call.action, call.payload)
            self._schemas.validate_request(call.action, call.payload)
            response = await handler(station_call, call.payload)
        except OcppError as exc:
            return framing.error_for(call.message_id, exc)
        except Refusal as exc:
            if (times := self.live.repeats.log_line(f"refused {call.action}")) is not None:
                log.info("%s from %s refused: %s%s", call.action, self.station_id, exc.rule, times)
            return refusal_error(call.message_id, exc)
        except Exception:  # noqa: BLE001 - the station gets an answer whatever broke
            log.exception("handler of %s from %s failed", call.action, self.station_id)
            return CallError(call.message_id, ErrorCode.INTERNAL_ERROR, f"{call.action} could not be processed")
        if station_call.disconnect_reason:
            return CallResult(call.message_id, response)   # never sent: the connection is dropped instead
        try:
            self._schemas.validate_response(call.action, response)
        except OcppError as exc:
            # Our bug: an invalid answer would make the station retry forever; say so instead.
            log.error("handler of %s built an invalid response: %s", call.action, exc.description)
            return CallError(call.message_id, ErrorCode.INTERNAL_ERROR, f"{call.action} response could not be built")
        return CallResult(call.message_id, response)

    def spawn(self, coroutine) -> None:
        """Run ``coroutine`` for the life of this connection (cancelled when it closes)."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._follow_up_done)

    def _follow_up_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("follow-up task for %s failed", self.station_id, exc_info=task.exception())

    # --- CSMS-initiated CALLs ----------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any], timeout: float) -> CallOutcome:
        """Send one CALL and wait for its answer; ``timeout`` covers queueing and answer.

        Raises SchemaViolation (nothing sent) when ``payload`` is not a valid ``action`` request.
        """
        self._schemas.validate_request(action, payload)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._closed:
            return CallOutcome(NOT_CONNECTED, description="station is not connected")
        try:
            async with asyncio.timeout_at(deadline):
                await self._slot.acquire()
        except TimeoutError:
            return CallOutcome(TIMEOUT, description="not sent: an earlier call to the station is still unanswered")
        try:
            return await self._call_in_slot(action, payload, deadline, timeout)
        finally:
            self._outstanding = None
            self._slot.release()

    async def _call_in_slot(self, action: str, payload: dict[str, Any], deadline: float,
                            timeout: float) -> CallOutcome:
        if self._closed:
            return CallOutcome(NOT_CONNECTED, description="station disconnected before the call was sent")
        message_id = str(uuid.uuid4())
        answer: asyncio.Future = asyncio.get_running_loop().create_future()
        self._outstanding = (message_id, answer)
        self._outstanding_action = action
        self.boot.call_sent(action, payload)
        try:
            await self._send(Call(message_id, action, payload), action)
        except ConnectionClosed:
            self.boot.call_answered(action, payload, None)
            return CallOutcome(NOT_CONNECTED, description="station disconnected before the call was sent")
        try:
            async with asyncio.timeout_at(deadline):
                frame = await answer
        except TimeoutError:
            return CallOutcome(TIMEOUT, description=f"no answer to {action} within {timeout:g} s", sent=True)
        except _Lost:
            return CallOutcome(TIMEOUT, description=f"connection closed before the answer to {action}", sent=True)
        outcome = self._outcome(action, frame)
        self.boot.call_answered(action, payload, outcome.response)
        return outcome

    def _outcome(self, action: str, frame: CallResult | CallError) -> CallOutcome:
        if isinstance(frame, CallError):
            return CallOutcome(ERROR, error_code=frame.code, description=frame.description, sent=True)
        try:
            self._schemas.validate_response(action, frame.payload)
        except OcppError as exc:
            return CallOutcome(ERROR, response=frame.payload, error_code=exc.code,
                               description=f"station sent an invalid answer: {exc.description}", sent=True)
        return CallOutcome(ANSWERED, response=frame.payload, sent=True)
