"""A01 — update the station's Basic-auth password, safe against a lost answer.

The new password's hash is stored as pending *before* SetVariables goes out; the answer then
decides (finish_password_rotation): Accepted → new only, any refusal → old only, no
answer → both until the station's next authentication picks one. The clear password exists only
in this coroutine and in the frame sent to the station.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from api.core.credentials import PASSWORD_MAX
from api.csms.security.service import begin_password_rotation, finish_password_rotation
from api.core.audit import Actor
from api.csms.security.service import ROTATION_ACCEPTED, ROTATION_REJECTED, ROTATION_UNKNOWN
from api.ocpp.gateway import Gateway
from api.ocpp.session import ANSWERED, ERROR, TIMEOUT, CallOutcome


@dataclass(frozen=True)
class RotationResult:
    answer: str                    # accepted | rejected | unknown
    call_status: str               # the SetVariables call: answered | error | timeout | not_connected
    attribute_status: str | None   # SetVariableResult.attributeStatus, when the station answered
    description: str = ""


async def rotate_password(gateway: Gateway, actor: Actor, station_id: str, *, length: int = PASSWORD_MAX,
                          timeout: float | None = None) -> RotationResult:
    gateway.require_session(station_id)
    password = await asyncio.to_thread(begin_password_rotation, gateway.ctx, actor, station_id, length)
    outcome = await gateway.send_call(station_id, "SetVariables", {"setVariableData": [{
        "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"},
        "attributeValue": password,
    }]}, timeout)
    del password
    attribute_status = _attribute_status(outcome)
    answer = _answer(outcome, attribute_status)
    await asyncio.to_thread(finish_password_rotation, gateway.ctx, actor, station_id, answer)
    return RotationResult(answer, outcome.status, attribute_status, outcome.description)


def _attribute_status(outcome: CallOutcome) -> str | None:
    if outcome.status != ANSWERED:
        return None
    results = outcome.response.get("setVariableResult", [])
    return results[0].get("attributeStatus") if results else None


def _answer(outcome: CallOutcome, attribute_status: str | None) -> str:
    if outcome.status == ANSWERED:
        if attribute_status == "Accepted":
            return ROTATION_ACCEPTED
        # RebootRequired: the station took the value and applies it after its reboot, so its
        # next connection may use either password.
        return ROTATION_UNKNOWN if attribute_status == "RebootRequired" else ROTATION_REJECTED
    if outcome.status == ERROR and outcome.response is not None:
        return ROTATION_UNKNOWN  # it answered, but unreadably: it may have applied the value
    if outcome.status == TIMEOUT and outcome.sent:
        return ROTATION_UNKNOWN
    return ROTATION_REJECTED  # a CALLERROR, or never sent
