"""Does a dataclass type fit a JSON schema? Used to check the commands' argument and result types
(many come from ``ocpp.v201``) against the official OCPP 2.0.1 schemas, field by field."""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from importlib import resources
from typing import Any

from api.ocpp.command import spec_name

_SCALARS = {"string": (str,), "integer": (int,), "number": (float, int), "boolean": (bool,)}


def schema(action: str, kind: str) -> dict:
    return json.loads(resources.files("ocpp").joinpath("v201", "schemas", f"{action}{kind}.json").read_text())


def misfits(kind: Any, node: dict, root: dict, where: str = "") -> list[str]:
    if "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[1]]
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        kind = next(option for option in typing.get_args(kind) if option is not type(None))
        origin = typing.get_origin(kind)
    if kind is Any or origin is dict:
        return []
    expected = node.get("type")
    if expected == "array":
        if origin not in (list, tuple):
            return [f"{where}: an array, typed {kind}"]
        return misfits(typing.get_args(kind)[0], node["items"], root, f"{where}[]")
    if expected == "object":
        if not dataclasses.is_dataclass(kind):
            return [f"{where}: an object, typed {kind}"]
        hints = typing.get_type_hints(kind)
        fields = {spec_name(f.name): f for f in dataclasses.fields(kind)}
        found = [f"{where}.{name}: not in the schema" for name in fields if name not in node["properties"]]
        for name, sub in node["properties"].items():
            field = fields.get(name)
            if field is None:
                found.append(f"{where}.{name}: no field")
                continue
            optional = type(None) in typing.get_args(hints[field.name]) or field.default is not dataclasses.MISSING
            if name in node.get("required", ()) and field.default is not dataclasses.MISSING:
                found.append(f"{where}.{name}: required, has a default")
            if name not in node.get("required", ()) and not optional:
                found.append(f"{where}.{name}: optional, typed required")
            found += misfits(hints[field.name], sub, root, f"{where}.{name}")
        return found
    if "enum" in node:
        if not (isinstance(kind, type) and issubclass(kind, enum.Enum)):
            return [f"{where}: an enum, typed {kind}"]
        if {m.value for m in kind} != set(node["enum"]):
            return [f"{where}: enum {kind.__name__} differs from {sorted(node['enum'])}"]
        return []
    if expected in _SCALARS and kind not in _SCALARS[expected]:
        return [f"{where}: {expected}, typed {kind}"]
    return []
