"""CSMS-initiated calls as typed commands: arguments in, a schema-checked request out, the
station's answer read back into a typed result.

A command is a frozen dataclass whose fields are the request's fields in snake_case, typed with
the spec's enums and data types (``ocpp.v201.enums`` / ``ocpp.v201.datatypes``); ``action``
names the OCPP action and ``Result`` the dataclass its answer is read into (``ocpp.v201.call_result``
has one per action). The functional blocks declare their commands (api/csms/<block>/commands.py);
this module only turns them into payloads and back, so every command speaks the wire format the
same way:

- ``request()`` builds the camelCase payload, drops the fields left None, and checks it against
  the action's request schema before anything can leave (``SchemaViolation`` otherwise);
- ``parse(answer)`` checks the answer against the response schema and builds the typed result
  (``BadAnswer`` names the field when the station's answer does not fit).

Field names are matched to the spec's by their letters alone (case and underscores ignored):
the 2.0.1 schemas have no two property names that differ only so (a test keeps it true), and a
field no schema knows is a bug caught when the payload is built, not a key a station ignores.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema, to_jsonable_python

from api.core.json_kinds import read_as_sent
from api.ocpp.gateway import Gateway
from api.ocpp.session import ANSWERED, CallOutcome
from api.ocpp.validation import SchemaViolation, schemas

R = TypeVar("R")


class BadAnswer(ValueError):
    """The station's answer does not fit the action's response schema or its result type."""

    def __init__(self, action: str, description: str, field: str = "") -> None:
        super().__init__(f"{action}: the station's answer is not a valid {action}Response: {description}")
        self.action = action
        self.field = field


class Command(Generic[R]):
    """Base of every command dataclass (see the module docstring): ``class X(Command[Result])``."""

    action: ClassVar[str]
    Result: ClassVar[type]
    # Read from a JSON body (the REST API's typed commands), a key no field has is refused, in the
    # command and in the spec's data types it holds, rather than dropped (api/rest/request_body.py).
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type, handler: GetCoreSchemaHandler) -> CoreSchema:
        # Read from a JSON body, a value is taken as the JSON type it was sent as, or refused
        # (api/core/json_kinds.py): "evse_id": true is no EVSE 1.
        return core_schema.no_info_wrap_validator_function(
            lambda sent, read: read_as_sent(sent, read, to_jsonable_python), handler(source))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The answer's type is the one named in the base, so it is written once.
        for base in getattr(cls, "__orig_bases__", ()):
            if typing.get_origin(base) is Command:
                result = typing.get_args(base)[0]
                # ocpp.v201.call_result names an answer as its request (TriggerMessage): a subclass
                # named TriggerMessageResult keeps the two apart wherever types are shown by name.
                if result.__name__ == cls.__name__:
                    result = dataclasses.make_dataclass(f"{cls.__name__}Result", [], bases=(result,))
                    result.__module__ = cls.__module__
                cls.Result = result
        if not isinstance(getattr(cls, "action", None), str):
            raise TypeError(f"{cls.__name__} names no action")

    def request(self) -> dict[str, Any]:
        payload = to_payload(self)
        schemas().validate_request(self.action, payload)
        return payload

    @classmethod
    def parse(cls, answer: dict[str, Any]) -> R:
        try:
            schemas().validate_response(cls.action, answer)
        except SchemaViolation as violation:
            raise BadAnswer(cls.action, violation.description, violation.field) from None
        try:
            return from_payload(cls.Result, answer)
        except (TypeError, ValueError, KeyError) as exc:
            raise BadAnswer(cls.action, str(exc)) from None


CommandType = type[Command[Any]]


@dataclass(frozen=True)
class Answer(Generic[R]):
    """How a command sent now ended, and the station's answer read, when it answered."""

    outcome: CallOutcome
    result: R | None = None


async def send_command(gateway: Gateway, station_id: str, command: Command[R],
                       timeout: float | None = None) -> Answer[R]:
    """Send ``command`` to a connected station and read its answer (the workflows' way; an
    operator's command goes through api/csms/operator_calls.py for its role and rule checks)."""
    outcome = await gateway.send_call(station_id, command.action, command.request(), timeout)
    return Answer(outcome, command.parse(outcome.response) if outcome.status == ANSWERED else None)


# --- names: snake_case fields ↔ the spec's camelCase properties --------------------------------

def _letters(name: str) -> str:
    return name.replace("_", "").casefold()


@cache
def spec_names() -> dict[str, str]:
    """Every property name the OCPP 2.0.1 schemas use, by its letters."""
    names: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                names[_letters(name)] = name
                walk(sub)
            for key, sub in node.items():
                if key != "properties":
                    walk(sub)
        elif isinstance(node, list):
            for sub in node:
                walk(sub)

    for entry in resources.files("ocpp").joinpath("v201", "schemas").iterdir():
        if entry.name.endswith(".json"):
            walk(json.loads(entry.read_text(encoding="utf-8")))
    return names


def spec_name(field_name: str) -> str:
    try:
        return spec_names()[_letters(field_name)]
    except KeyError:
        raise KeyError(f"{field_name!r} is no OCPP 2.0.1 field") from None


# --- dataclass → payload ----------------------------------------------------------------------

def to_payload(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {spec_name(f.name): to_payload(item) for f in dataclasses.fields(value)
                if (item := getattr(value, f.name)) is not None}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_payload(item) for item in value]
    if isinstance(value, dict):
        return {key: to_payload(item) for key, item in value.items()}
    return value


# --- payload → dataclass ----------------------------------------------------------------------

@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_payload(kind: Any, value: Any, where: str = "") -> Any:
    """``value`` (schema-valid JSON) as an instance of the type ``kind``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        if value is None:
            return None
        return from_payload(options[0], value, where)
    if origin in (list, tuple):
        (item,) = typing.get_args(kind)[:1]
        return [from_payload(item, entry, f"{where}[{i}]") for i, entry in enumerate(value)]
    if origin is dict or kind is Any:
        return value
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise TypeError(f"{where or 'payload'} is not an object")
        by_letters = {_letters(key): item for key, item in value.items()}
        hints = _hints(kind)
        arguments = {}
        for f in dataclasses.fields(kind):
            if not f.init:
                continue
            item = by_letters.get(_letters(f.name))
            path = f"{where}.{spec_name(f.name)}" if where else spec_name(f.name)
            if item is None:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise KeyError(f"{path} is required")
                continue
            arguments[f.name] = from_payload(hints[f.name], item, path)
        return kind(**arguments)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"{where} {value!r} is not one of {', '.join(m.value for m in kind)}") from None
    if kind is float and isinstance(value, int):
        return float(value)
    return value
