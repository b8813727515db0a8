"""Get/SetVariables cut to what the station takes per message, and their answers merged.

A station says how many entries (DeviceDataCtrlr.ItemsPerMessage) and how many bytes
(DeviceDataCtrlr.BytesPerMessage) one GetVariablesRequest or SetVariablesRequest may carry, each
per instance (GetVariables, SetVariables). B06.FR.05 (TC_B_08: 4 per message, 5 asked → 4 + 1):
the CSMS sends as many messages as that takes, one after the other, and the operator gets one
answer, the results in the order asked. A single entry that alone exceeds BytesPerMessage cannot
be sent at all: refused naming the variable and the limit.

Before a SetVariables leaves, each value is checked against what the station reported of its
variable (policies/provisioning.py ``check_value``: ReadOnly, dataType, minLimit/maxLimit,
valuesList); a variable it never reported is the station's to judge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlmodel import Session

from api.core.refusal import Refusal
from api.csms.provisioning import device_model
from api.csms.provisioning.device_model import VariableId
from api.ocpp.gateway import Gateway
from api.ocpp.session import ANSWERED, CallOutcome
from policies.provisioning import check_value

# [2,"<message id>","<action>",<payload>]: what a frame adds around the payload. Our message
# ids are uuid4 text (36 characters).
_FRAME_OVERHEAD = len('[2,"","",]') + 36


def _size(value: Any) -> int:
    # As the engine encodes a frame (api/ocpp/framing.py): compact, UTF-8.
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass(frozen=True)
class Limits:
    items: int | None = None
    bytes: int | None = None


class Splittable:
    """A command whose list of entries may be sent in several messages (mixed into the command:
    ``items_field`` names the request's list, ``results_field`` the answer's)."""

    action: ClassVar[str]
    items_field: ClassVar[str]
    results_field: ClassVar[str]

    @classmethod
    def split(cls, payload: Mapping[str, Any], limits: Limits) -> list[dict[str, Any]]:
        """The request as the messages the station takes, in order; Refusal when one entry
        alone is larger than a message may be."""
        items = list(payload[cls.items_field])
        rest = {key: value for key, value in payload.items() if key != cls.items_field}
        base = _FRAME_OVERHEAD + len(cls.action) + _size({**rest, cls.items_field: []})
        parts: list[list[Any]] = []
        current: list[Any] = []
        size = base
        for item in items:
            item_size = _size(item) + (1 if current else 0)
            if limits.bytes is not None and base + _size(item) > limits.bytes:
                raise Refusal("call.variables.bytes_per_message",
                              f"{_name(item)}: one entry of {base + _size(item)} bytes exceeds the station's "
                              f"DeviceDataCtrlr.BytesPerMessage[{cls.action}] of {limits.bytes}")
            full = (limits.items is not None and len(current) >= limits.items) or \
                   (limits.bytes is not None and size + item_size > limits.bytes)
            if current and full:
                parts.append(current)
                current, size, item_size = [], base, _size(item)
            current.append(item)
            size += item_size
        if current:
            parts.append(current)
        return [{**rest, cls.items_field: part} for part in parts]

    @classmethod
    def merge(cls, answers: list[dict[str, Any]]) -> dict[str, Any]:
        return {cls.results_field: [result for answer in answers for result in answer.get(cls.results_field, [])]}

    @classmethod
    async def send_split(cls, gateway: Gateway, station_id: str, parts: list[dict[str, Any]],
                         timeout: float | None) -> CallOutcome:
        """Each part in turn; one outcome. A part that is not answered ends it: its outcome,
        saying how many parts went before (those were applied by the station)."""
        answers = []
        for number, part in enumerate(parts, 1):
            outcome = await gateway.send_call(station_id, cls.action, part, timeout)
            if outcome.status != ANSWERED:
                if len(parts) == 1:
                    return outcome
                return CallOutcome(outcome.status, error_code=outcome.error_code, sent=outcome.sent or number > 1,
                                   description=f"part {number} of {len(parts)}: {outcome.description} "
                                               f"({number - 1} part(s) answered before)")
            answers.append(outcome.response or {})
        return CallOutcome(ANSWERED, response=cls.merge(answers), sent=True)


def _name(item: Mapping[str, Any]) -> str:
    return VariableId.of(item.get("component", {}), item.get("variable", {})).name


def plan(session: Session, station_id: str, command: type[Splittable], payload: Mapping[str, Any]) -> list[dict]:
    """The messages ``payload`` goes as, after the values it writes passed their checks."""
    if command.items_field == "setVariableData":
        check_values(session, station_id, payload["setVariableData"])
    items, size = device_model.message_limits(session, station_id, command.action)
    return command.split(payload, Limits(items, size))


def check_values(session: Session, station_id: str, entries: list[Mapping[str, Any]]) -> None:
    wanted = [(VariableId.of(e["component"], e["variable"]), e.get("attributeType", "Actual")) for e in entries]
    known = device_model.characteristics(session, station_id, wanted)
    for (ident, kind), entry in zip(wanted, entries):
        reported = known.get((ident.key, kind))
        if reported is None:
            continue
        decision = check_value(ident.name, entry["attributeValue"], reported)
        if not decision:
            raise Refusal(decision.rule, decision.reason, details={"variable": ident.name})
