"""Operator-requested CSMS calls: sent now (sync) or as a stored job (async, persist first).

Either way the call is checked and audited before it leaves, and its outcome is audited after.
A job is an OutboundCall row: stored as pending, claimed (pending → sent) by exactly one
sender, and finished with the station's answer. A job for a station that is not connected
waits for the station's next connection (``CallJobs`` hooks into the gateway's ready event).
A job's sender holds it under a lease (storage/leases.py); a job left "sent" by a process that
died (or whose lease expired) ends as a timeout when the next process starts: the station may
have acted on it, so it is not sent twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import select

from api import operations
from api.operations import Actor, OperationRefused
from api.ocpp.gateway import Gateway
from api.ocpp.outbox_worker import LEASE_MARGIN
from api.ocpp.routes import CSMS_ACTIONS
from api.ocpp.session import ANSWERED, ERROR, NOT_CONNECTED, TIMEOUT, CallOutcome, OcppSession
from api.ocpp.validation import SchemaViolation
from storage.batching import Batcher
from storage.db import read_scope
from storage.leases import abandoned, release
from storage.outbox import CallStatus, OutboundCall, call_ids_by_station
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.calls")

OPERATOR_PURPOSE = "operator"


class InvalidCallPayload(OperationRefused):
    """The payload breaks the action's schema; ``field`` names where (REST answers 422)."""

    def __init__(self, violation: SchemaViolation) -> None:
        super().__init__("call.schema", violation.description)
        self.field = violation.field
        self.code = violation.code


def _is_password_change(action: str, payload: dict[str, Any]) -> bool:
    return action == "SetVariables" and any(
        entry.get("component", {}).get("name") == "SecurityCtrlr"
        and entry.get("variable", {}).get("name") == "BasicAuthPassword"
        for entry in payload.get("setVariableData", []) if isinstance(entry, dict))


class CallChecker:
    """What an operator may send: a CSMS-initiated action, schema-valid, and no password change
    behind the A01 workflow's back (the gateway would not know which password to accept)."""

    def __init__(self, gateway: Gateway) -> None:
        self._schemas = gateway.schemas

    def __call__(self, action: str, payload: dict[str, Any]) -> None:
        if action not in CSMS_ACTIONS:
            raise OperationRefused("call.action", f"{action!r} is not a message the CSMS sends to a station")
        if _is_password_change(action, payload):
            raise OperationRefused("call.password", "change SecurityCtrlr.BasicAuthPassword through "
                                                    "POST /api/v1/stations/{id}/password-rotation")
        try:
            self._schemas.validate_request(action, payload)
        except SchemaViolation as violation:
            raise InvalidCallPayload(violation) from None
        request_id = payload.get("requestId")
        if isinstance(request_id, int) and request_id < 0:
            # The schemas allow it, but the reports and notifications that follow carry it back,
            # and B07/B08/N01 (TC_B_12, TC_B_13, TC_N_25) expect a requestId >= 0.
            raise OperationRefused("call.request_id", "requestId must be 0 or more")


async def call_now(gateway: Gateway, actor: Actor, station_id: str, action: str, payload: dict[str, Any],
                   timeout: float | None = None) -> CallOutcome:
    ctx = gateway.ctx
    await asyncio.to_thread(operations.begin_station_call, ctx, actor, station_id, action, payload,
                            check=CallChecker(gateway), persist=False)
    outcome = await gateway.send_call(station_id, action, payload, timeout)
    await asyncio.to_thread(operations.record_call_result, ctx, actor, station_id, action, outcome.status,
                            error_code=outcome.error_code)
    return outcome


class CallJobs:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._ctx = gateway.ctx
        self._tasks: set[asyncio.Task] = set()
        self._pending_ids = Batcher(self._pending_of)
        gateway.on_ready(self._deliver_pending)

    async def submit(self, actor: Actor, station_id: str, action: str, payload: dict[str, Any],
                     timeout: float | None = None) -> OutboundCall:
        row = await asyncio.to_thread(operations.begin_station_call, self._ctx, actor, station_id, action,
                                      payload, check=CallChecker(self._gateway), persist=True)
        if self._gateway.session(station_id) is not None:
            task = asyncio.create_task(self._deliver(row.id, timeout))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return row

    def get(self, station_id: str, call_id: int) -> OutboundCall | None:
        row = operations.run_in_session(self._ctx, lambda s: s.get(OutboundCall, call_id))
        return row if row is not None and row.station_id == station_id else None

    async def _deliver_pending(self, session: OcppSession) -> None:
        for call_id in await self._pending_ids(session.station_id):
            await self._deliver(call_id, None)

    def _pending_of(self, station_ids: list[str]) -> list[list[int]]:
        with read_scope(self._ctx.engine) as db:
            return call_ids_by_station(db, station_ids, OutboundCall.purpose == OPERATOR_PURPOSE,
                                       OutboundCall.status == CallStatus.PENDING)

    async def _deliver(self, call_id: int, timeout: float | None) -> None:
        row = await asyncio.to_thread(self._claim, call_id, timeout or self._gateway.config.call_timeout)
        if row is None:
            return  # another sender has it, or it is finished
        payload = json.loads(row.payload)
        outcome = await self._gateway.send_call(row.station_id, row.action, payload, timeout)
        while outcome.status == TIMEOUT and not outcome.sent and self._gateway.session(row.station_id):
            # Timed out queueing behind other calls, the station still there: keep its turn.
            outcome = await self._gateway.send_call(row.station_id, row.action, payload, timeout)
        await asyncio.to_thread(self._finish, row, outcome)

    def _claim(self, call_id: int, timeout: float) -> OutboundCall | None:
        now = utcnow()
        lease = self._gateway.owner.values(now + timedelta(seconds=timeout) + LEASE_MARGIN)

        def claim(session) -> OutboundCall | None:
            claimed = session.execute(
                update(OutboundCall)
                .where(OutboundCall.id == call_id, OutboundCall.status == CallStatus.PENDING)
                .values(status=CallStatus.SENT, attempts=OutboundCall.attempts + 1, updated_at=now, **lease))
            return session.get(OutboundCall, call_id) if claimed.rowcount == 1 else None
        return operations.run_in_session(self._ctx, claim)

    def _finish(self, row: OutboundCall, outcome: CallOutcome) -> None:
        def finish(session) -> None:
            stored = session.get(OutboundCall, row.id)
            if outcome.status == ANSWERED:
                stored.status, stored.response = CallStatus.ANSWERED, json.dumps(outcome.response)
            elif outcome.status == ERROR:
                stored.status, stored.error = CallStatus.ERROR, f"{outcome.error_code}: {outcome.description}"[:500]
            elif outcome.status == TIMEOUT and outcome.sent:
                stored.status, stored.error = CallStatus.TIMEOUT, outcome.description[:500]
            else:
                # Never reached the station: back in line for its next connection.
                stored.status, stored.error = CallStatus.PENDING, outcome.description[:500]
            stored.updated_at = utcnow()
            release(stored)
            session.add(stored)
        operations.run_in_session(self._ctx, finish)
        operations.record_call_result(self._ctx, Actor(row.created_by), row.station_id, row.action,
                                      outcome.status, error_code=outcome.error_code, call_id=row.id)
        if outcome.status == NOT_CONNECTED or not outcome.sent:
            log.info("job %s for %s waits for the station's next connection", row.id, row.station_id)

    async def recover(self) -> list[int]:
        """End the jobs a dead sender left "sent" as timeouts (audited); their ids."""
        return await asyncio.to_thread(self._time_out_abandoned)

    def _time_out_abandoned(self) -> list[int]:
        def time_out(session) -> list[OutboundCall]:
            rows = list(session.exec(select(OutboundCall).where(
                OutboundCall.purpose == OPERATOR_PURPOSE, OutboundCall.status == CallStatus.SENT,
                abandoned(OutboundCall, self._gateway.owner, utcnow()))))
            for row in rows:
                row.status, row.error, row.updated_at = (
                    CallStatus.TIMEOUT, "the CSMS process that sent it stopped before the answer", utcnow())
                release(row)
                session.add(row)
            return rows
        rows = operations.run_in_session(self._ctx, time_out)
        for row in rows:
            log.warning("job %s for %s: its sender stopped before the answer; ended as a timeout", row.id,
                        row.station_id)
            operations.record_call_result(self._ctx, Actor(row.created_by), row.station_id, row.action, TIMEOUT,
                                          call_id=row.id)
        return [row.id for row in rows]

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
