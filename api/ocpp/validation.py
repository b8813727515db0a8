"""Schema validation of every OCPP 2.0.1 payload, in and out, with compiled validators.

The official schemas ship with the ``ocpp`` package (ocpp/v201/schemas). Each is compiled once,
at start-up, by fastjsonschema into plain Python code, and by api/ocpp/schema_quick.py into a
check that passes a valid payload without building any error text: validating then costs µs on
the event loop (a TransactionEvent with four sampled values ~20 instead of ~65 on a slow day;
scripts/bench_schema_check.py), so there is no thread-pool hop (the ``ocpp`` library pays ~60 µs
for one) and no lazy file load on the first message of a kind. Whatever the quick check does not
pass, fastjsonschema decides, and the table below names its refusal.

Failing schema keyword → CALLERROR code (P4 §4.3 definitions):

| keyword                              | code                          | why |
|--------------------------------------|-------------------------------|-----|
| type                                 | TypeConstraintViolation       | "field violates data type constraints" |
| required, minItems, maxItems         | OccurrenceConstraintViolation | a field or list entry occurs too few / too many times |
| maxLength, minLength, enum, pattern, | PropertyConstraintViolation   | right type, value not allowed |
| minimum, maximum, format, const, ... |                               | |
| additionalProperties                 | FormatViolation               | a field the action does not define: the payload is not of this action's syntax |
| anything else                        | FormatViolation               | |

An OCPP integer is 32 bits, signed (OCPP 2.0.1 Part 2 §2.1.x: 31 bit resolution, 1 sign bit),
which the JSON schemas do not say: every integer field is compiled with that range as its
minimum and maximum (where the schema sets none tighter). A larger one is refused as any value
out of range is, naming its field, both ways: a station's never reaches a handler or a database
column that cannot hold it (an INTEGER on PostgreSQL, SQLite's 64 bits), and a command of ours
never carries a number no station can hold.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Callable

import fastjsonschema

from api.ocpp import date_time
from api.ocpp.framing import ErrorCode, OcppError
from api.ocpp.schema_quick import FORMATS, Check, compile_check
from storage.types import INT32_MAX, INT32_MIN

_KEYWORD_CODES = {
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "required": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "minItems": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "maxLength": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minLength": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "enum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "pattern": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "exclusiveMinimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "exclusiveMaximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "multipleOf": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "format": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "const": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "additionalProperties": ErrorCode.FORMAT_VIOLATION,
}

REQUEST, RESPONSE = "Request", "Response"


class SchemaViolation(OcppError):
    """A payload that breaks its schema; ``field`` is the dotted path, e.g. 'chargingStation.model'."""

    def __init__(self, code: str, description: str, field: str, keyword: str) -> None:
        super().__init__(code, description, {"field": field, "keyword": keyword} if field else {"keyword": keyword})
        self.field = field
        self.keyword = keyword


class UnknownAction(LookupError):
    pass


@dataclass(frozen=True)
class CompileReport:
    validators: int
    seconds: float


class Schemas:
    """Compiled validators of all OCPP 2.0.1 actions, by (action, Request|Response), each with its
    quick check (api/ocpp/schema_quick.py) in front: a payload it passes needs no more; the
    validator decides on the rest."""

    def __init__(self, validators: dict[tuple[str, str], Callable[[Any], Any]], report: CompileReport,
                 quick: dict[tuple[str, str], Check] | None = None) -> None:
        self._validators = validators
        self._quick = quick or {}
        self.report = report
        self.actions = frozenset(action for action, _ in validators)

    @classmethod
    def compile_all(cls) -> "Schemas":
        started = time.perf_counter()
        validators: dict[tuple[str, str], Callable[[Any], Any]] = {}
        quick: dict[tuple[str, str], Check] = {}
        for entry in _FOLDER.iterdir():
            name = entry.name
            if not name.endswith(".json"):
                continue
            stem = name[:-len(".json")]
            for kind in (REQUEST, RESPONSE):
                if stem.endswith(kind):
                    key = (stem[:-len(kind)], kind)
                    schema = ocpp_schema(*key)
                    validators[key] = fastjsonschema.compile(schema, formats=FORMATS)
                    check = compile_check(schema, stem)
                    if check is not None:
                        quick[key] = check
        return cls(validators, CompileReport(len(validators), time.perf_counter() - started), quick)

    def knows(self, action: str) -> bool:
        return action in self.actions

    def validate(self, action: str, kind: str, payload: dict[str, Any]) -> None:
        key = (action, kind)
        quick = self._quick.get(key)
        if quick is not None and quick(payload):
            return
        validator = self._validators.get(key)
        if validator is None:
            raise UnknownAction(f"no OCPP 2.0.1 schema for {action}{kind}")
        try:
            validator(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise _violation(action, kind, exc) from None

    def validate_request(self, action: str, payload: dict[str, Any]) -> None:
        self.validate(action, REQUEST, payload)

    def validate_response(self, action: str, payload: dict[str, Any]) -> None:
        self.validate(action, RESPONSE, payload)


_FOLDER = resources.files("ocpp").joinpath("v201", "schemas")


@cache
def spec_schema(action: str, kind: str = REQUEST) -> dict[str, Any]:
    """The official schema of ``action``'s request (or response), as the ocpp package ships it."""
    return json.loads(_FOLDER.joinpath(f"{action}{kind}.json").read_text(encoding="utf-8"))



@cache
def ocpp_schema(action: str, kind: str = REQUEST) -> dict[str, Any]:
    """``spec_schema`` with what OCPP says and the JSON schema does not: what the validators
    are compiled from."""
    return with_ocpp_integers(spec_schema(action, kind))


def with_ocpp_integers(node: Any) -> Any:
    """``node`` (a schema or part of one), every integer in it bounded to OCPP's 32 bits."""
    if isinstance(node, list):
        return [with_ocpp_integers(item) for item in node]
    if not isinstance(node, dict):
        return node
    bounded = {key: with_ocpp_integers(value) for key, value in node.items()}
    if bounded.get("type") == "integer":
        bounded["minimum"] = max(bounded.get("minimum", INT32_MIN), INT32_MIN)
        bounded["maximum"] = min(bounded.get("maximum", INT32_MAX), INT32_MAX)
    return bounded


def _violation(action: str, kind: str, exc: fastjsonschema.JsonSchemaValueException) -> SchemaViolation:
    keyword = exc.rule or "unknown"
    path = [str(part) for part in (exc.path or [])[1:]]  # drop fastjsonschema's root name "data"
    if keyword == "required" and isinstance(exc.value, dict) and isinstance(exc.rule_definition, list):
        missing = [key for key in exc.rule_definition if key not in exc.value]
        path.append(missing[0] if missing else "?")
        problem = "is required"
    elif keyword == "format" and exc.rule_definition == "date-time":
        problem = f"{str(exc.value)[:40]!r} {date_time.PROBLEM}"
    else:
        problem = exc.message.split(" ", 1)[1] if " " in exc.message else exc.message
    field = ".".join(path)
    description = f"{action}{kind}: {field or 'payload'} {problem}"
    return SchemaViolation(_KEYWORD_CODES.get(keyword, ErrorCode.FORMAT_VIOLATION), description, field, keyword)


@cache
def schemas() -> Schemas:
    """The process-wide compiled schemas; call once at start-up so no message pays the compile."""
    return Schemas.compile_all()
