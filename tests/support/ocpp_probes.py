"""Hostile values at every field of a station's OCPP 2.0.1 request, from the official schemas.

``example(action)``: a request (or, with RESPONSE, an answer) with every property the schema knows
(optional ones too, arrays of one item), each value valid. ``probes(action)``: that payload with
one leaf replaced by a value a hostile or broken station could send, each as the JSON text of the
payload and a name for it (``path: what``). Every probe is JSON that the standard library writes or reads; those that no
encoder writes (a lone surrogate) are spliced into the text.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

Path = tuple[str | int, ...]

VALID_TIME = "2025-06-01T12:00:00Z"
_PLACEHOLDER = "\x01PROBE\x01"
_LONE_SURROGATE_TEXT = '"a\\ud800b"'

# Values a well-formed JSON text can carry where the schema asks for each type.
HOSTILE_STRINGS = {
    "NUL": "a\x00b",
    "longest, 4-byte characters": None,   # filled to the field's maxLength
    "control characters": "\r\n\t\x1b[2J\x7f",
}
HOSTILE_TIMES = {
    "year 1 at UTC+14 (year 0 in UTC)": "0001-01-01T00:00:00+14:00",
    "year 9999 at UTC-14 (year 10000 in UTC)": "9999-12-31T23:59:59-14:00",
    "February 30": "2025-02-30T00:00:00Z",
    "no date-time": "yesterday",
}
HOSTILE_INTEGERS = {"2^31": 2**31, "-2^31-1": -(2**31) - 1, "2^63": 2**63, "-2^63-1": -(2**63) - 1, "10^30": 10**30}
HOSTILE_NUMBERS = {"1e308": 1e308, "-1e308": -1e308, "5e-324": 5e-324, "2^63": 2**63}


REQUEST, RESPONSE = "Request", "Response"


@cache
def schema(action: str, kind: str = REQUEST) -> dict:
    return json.loads(resources.files("ocpp").joinpath("v201", "schemas", f"{action}{kind}.json").read_text())


def _resolve(node: dict, root: dict) -> dict:
    if "$ref" in node:
        return root["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _value(node: dict, root: dict) -> Any:
    node = _resolve(node, root)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        return {name: _value(sub, root) for name, sub in node.get("properties", {}).items()}
    if kind == "array":
        return [_value(node["items"], root) for _ in range(max(1, node.get("minItems", 1)))]
    if kind in ("string", None):   # None: DataTransfer's data, of any type
        return VALID_TIME if node.get("format") == "date-time" else "x"
    if kind == "integer":
        return max(1, node.get("minimum", 1))
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return False
    raise ValueError(f"no example for {node}")


def example(action: str, kind: str = REQUEST) -> dict[str, Any]:
    root = schema(action, kind)
    return _value(root, root)


def _leaves(node: dict, root: dict, path: Path = ()) -> Iterator[tuple[Path, dict]]:
    node = _resolve(node, root)
    kind = node.get("type")
    if kind == "object" and "enum" not in node:
        for name, sub in node.get("properties", {}).items():
            yield from _leaves(sub, root, (*path, name))
    elif kind == "array":
        yield from _leaves(node["items"], root, (*path, 0))
    else:
        yield path, node


def _hostile(node: dict) -> Iterator[tuple[str, Any]]:
    if "enum" in node:
        yield "no value of the enum", "NotAValue"
        return
    kind = node.get("type")
    if kind == "string" and node.get("format") == "date-time":
        yield from HOSTILE_TIMES.items()
    elif kind in ("string", None):
        for what, value in HOSTILE_STRINGS.items():
            yield what, "\U0001F50C" * node.get("maxLength", 1000) if value is None else value
        yield "lone surrogate", _PLACEHOLDER
    elif kind == "integer":
        yield from HOSTILE_INTEGERS.items()
    elif kind == "number":
        yield from HOSTILE_NUMBERS.items()


def _set(document: Any, path: Path, value: Any) -> None:
    for step in path[:-1]:
        document = document[step]
    document[path[-1]] = value


def probes(action: str, kind: str = REQUEST, base: dict[str, Any] | None = None) -> Iterator[tuple[str, str]]:
    """(name, payload as JSON text) for every hostile value at every leaf of ``action``'s
    request (or response), each set in ``base`` (default: ``example``); a leaf whose place
    ``base`` leaves out is skipped."""
    root = schema(action, kind)
    base = example(action, kind) if base is None else base
    for path, node in _leaves(root, root):
        for what, value in _hostile(node):
            payload = copy.deepcopy(base)
            try:
                _set(payload, path, value)
            except (KeyError, IndexError):
                break
            text = json.dumps(payload, ensure_ascii=False)
            if value == _PLACEHOLDER:
                text = text.replace(json.dumps(_PLACEHOLDER, ensure_ascii=False), _LONE_SURROGATE_TEXT)
            yield f"{'.'.join(map(str, path))}: {what}", text
