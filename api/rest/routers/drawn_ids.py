"""Commands sent with an id ChargeCA draws (api/csms/ids.py): a remoteStartId, a
CustomerInformation requestId. A drawn id its table already holds for the station is refused by
name (``taken_rule``, 409) before anything leaves, and drawn again; a 31-bit draw rarely needs a
second."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse

from api.core.audit import Actor
from api.core.refusal import Conflict
from api.csms.ids import draw_id
from api.csms.operator_calls import CallJobs
from api.ocpp.command import Command
from api.ocpp.gateway import Gateway
from api.rest.routers.commands import answered_outcome, build
from api.rest.routers.station_ops import send_operator_call

DRAWS = 3


async def send_with_drawn_id(gateway: Gateway, jobs: CallJobs, actor: Actor, station_id: str,
                             make: Callable[[int], Command[Any]], taken_rule: str, id_name: str) -> Any:
    """``make(drawn_id)`` sent now through the operator's one path; the typed outcome with
    ``id_name`` set to the id that was used."""
    for _ in range(DRAWS):
        drawn = draw_id()
        command = make(drawn)
        try:
            answered = await send_operator_call(gateway, jobs, actor, station_id, command.action,
                                                build(type(command), command), job=False, timeout=None)
        except Conflict as exc:
            if exc.rule == taken_rule:
                continue
            raise
        if isinstance(answered, JSONResponse):  # pragma: no cover - only jobs answer so
            return answered
        return {id_name: drawn, **answered_outcome(command.action, answered).model_dump()}
    raise Conflict(taken_rule, f"no free {id_name} was drawn; try again")
