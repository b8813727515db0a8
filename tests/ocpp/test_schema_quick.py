"""The quick schema check (api/ocpp/schema_quick.py) never passes what the full validator refuses,
and passes the valid payloads stations send, so that they skip the validator's cost."""

from __future__ import annotations

import json
import math
import random
from importlib import resources
from typing import Any

import fastjsonschema
import pytest

from api.ocpp.framing import ErrorCode
from api.ocpp.schema_quick import compile_check
from api.ocpp.validation import SchemaViolation, schemas

_FOLDER = resources.files("ocpp").joinpath("v201", "schemas")
_NAMES = sorted(entry.name[:-len(".json")] for entry in _FOLDER.iterdir() if entry.name.endswith(".json"))
_TEXT = "aZ0 é€𝄞"  # ASCII, two-byte, three-byte and astral characters: maxLength counts characters


def _schema(name: str) -> dict[str, Any]:
    return json.loads(_FOLDER.joinpath(f"{name}.json").read_text(encoding="utf-8"))


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _example(schema: dict[str, Any], root: dict[str, Any], rng: random.Random, depth: int = 0) -> Any:
    """A random value that ``schema`` accepts: every required field, each optional one half the time."""
    schema = _resolve(schema, root)
    kind = schema.get("type")
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if kind == "object":
        value = {}
        for name, sub in schema.get("properties", {}).items():
            if name in schema.get("required", ()) or (depth < 6 and rng.random() < 0.5):
                value[name] = _example(sub, root, rng, depth + 1)
        return value
    if kind == "array":
        size = rng.randint(schema.get("minItems", 0), min(schema.get("maxItems", 3), schema.get("minItems", 0) + 2))
        return [_example(schema["items"], root, rng, depth + 1) for _ in range(size)]
    if kind == "string":
        if schema.get("format") == "date-time":
            return rng.choice(["2026-12-05T10:00:00Z", "2024-02-29T23:59:59.123+01:00", "0001-01-01t00:00:00z"])
        longest = schema.get("maxLength", 30)
        return "".join(rng.choice(_TEXT) for _ in range(rng.choice([0, 1, longest])))
    if kind == "integer":
        return rng.randint(math.ceil(schema.get("minimum", -5)), math.floor(schema.get("maximum", 10**20)))
    if kind == "number":
        low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
        return rng.choice([n for n in (0, -1.5, 1e300, 12, low, high) if math.isfinite(n) and low <= n <= high])
    if kind == "boolean":
        return rng.random() < 0.5
    return {"any": [1, "x", None]}  # untyped (DataTransfer's data)


# What a station may get wrong, in place of a field's value.
_WRONG = [None, True, False, 0, 1.0, -1, 2**70, math.nan, math.inf, "", "x" * 2600, "\ud800", "a\x00b",
          "2026-02-30T10:00:00Z", "2026-12-05 10:00:00Z", "٢٠٢٦-١٢-٠٥T10:00:00Z", "Bogus", [], [1], {}, {"x": 1}]


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _mutated(value: Any, rng: random.Random) -> Any:
    """``value`` with one change somewhere: a field's value replaced, a field dropped or added,
    a list item added."""
    value = json.loads(json.dumps(value))
    path = rng.choice(_paths(value))
    if not path:
        return rng.choice(_WRONG)
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    action = rng.random()
    if action < 0.6:
        parent[path[-1]] = rng.choice(_WRONG)
    elif action < 0.75 and isinstance(parent, dict):
        del parent[path[-1]]
    elif action < 0.9 and isinstance(parent, dict):
        parent["unexpectedField"] = 1
    elif isinstance(parent, list):
        parent.extend(parent[:1] * 5)
    else:
        parent[path[-1]] = rng.choice(_WRONG)
    return value


def _full_accepts(validator, value: Any) -> bool:
    try:
        validator(value)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def test_every_ocpp_schema_has_a_quick_check():
    assert len(_NAMES) == 128
    assert [name for name in _NAMES if compile_check(_schema(name), name) is None] == []


@pytest.mark.parametrize("name", _NAMES)
def test_the_quick_check_passes_valid_payloads_and_nothing_the_validator_refuses(name):
    schema = _schema(name)
    quick, full = compile_check(schema, name), fastjsonschema.compile(schema)
    rng = random.Random(name)
    refused = 0
    for _ in range(40):
        valid = _example(schema, schema, rng)
        assert _full_accepts(full, valid), valid  # the generator's own check
        assert quick(valid), valid
        for _ in range(10):
            changed = _mutated(valid, rng)
            if quick(changed):
                assert _full_accepts(full, changed), changed
            refused += not _full_accepts(full, changed)
    assert refused > 0  # the mutations reach the validator's refusals


TRANSACTION_EVENT = {
    "eventType": "Updated", "timestamp": "2026-12-05T10:00:00.000Z", "triggerReason": "MeterValuePeriodic",
    "seqNo": 3, "transactionInfo": {"transactionId": "tx-1", "chargingState": "Charging"},
    "evse": {"id": 1, "connectorId": 1},
    "meterValue": [{"timestamp": "2026-12-05T10:00:00.000Z", "sampledValue": [
        {"value": 1234.5, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
        {"value": 16, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}}]}]}


def _with(path: tuple, value: Any) -> dict[str, Any]:
    payload = json.loads(json.dumps(TRANSACTION_EVENT))
    parent = payload
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return payload


@pytest.mark.parametrize("path, value, code", [
    (("seqNo",), True, ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    (("seqNo",), "3", ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    (("meterValue", 0, "sampledValue", 1, "measurand"), "Current.Sideways", ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
    (("meterValue", 0, "sampledValue", 0, "unitOfMeasure", "unit"), "€" * 21,
     ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
    (("meterValue", 0, "timestamp"), "2026-12-05T25:00:00Z", ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
    (("meterValue", 0, "sampledValue"), [], ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
    (("evse", "colour"), "red", ErrorCode.FORMAT_VIOLATION),
    # Past OCPP's 32-bit integers (api/ocpp/validation.py), which the JSON schemas leave unbounded.
    (("seqNo",), 2**31, ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
    (("evse", "id"), -(2**31) - 1, ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
    (("seqNo",), 2**80, ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
])
def test_a_violation_is_still_named_by_the_validator(path, value, code):
    with pytest.raises(SchemaViolation) as refused:
        schemas().validate_request("TransactionEvent", _with(path, value))
    assert refused.value.code == code


@pytest.mark.parametrize("path, value", [
    (("seqNo",), 3.0),            # an integer to JSON Schema draft 6, not a Python int
    (("meterValue", 0, "sampledValue", 0, "value"), math.nan),  # a number; handlers refuse it by name
])
def test_what_the_quick_check_leaves_to_the_validator_it_accepts_as_before(path, value):
    payload = _with(path, value)
    schemas().validate_request("TransactionEvent", payload)  # no SchemaViolation
    assert _full_accepts(fastjsonschema.compile(_schema("TransactionEventRequest")), payload)


@pytest.mark.parametrize("value", [2**31 - 1, -(2**31)])
def test_ocpps_largest_and_smallest_integers_are_accepted(value):
    schemas().validate_request("TransactionEvent", _with(("seqNo",), value))  # no SchemaViolation


def test_a_valid_transaction_event_never_reaches_the_validator(monkeypatch):
    checked = schemas()
    calls = []
    key = ("TransactionEvent", "Request")
    full = checked._validators[key]
    monkeypatch.setitem(checked._validators, key, lambda payload: calls.append(payload) or full(payload))
    checked.validate_request("TransactionEvent", TRANSACTION_EVENT)
    assert calls == []
    with pytest.raises(SchemaViolation):
        checked.validate_request("TransactionEvent", _with(("seqNo",), -1.5))
    assert len(calls) == 1
