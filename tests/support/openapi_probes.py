"""Requests built from the OpenAPI document: one value put in one parameter or body field at a
time, the rest of the request valid. The document is the contract, so a route added later is
probed without touching the tests that use this (tests/rest/test_rest_fuzz.py,
tests/rest/test_rest_hostile_text.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

STATION = "FUZZ-1"

Schema = dict[str, Any]
Wanted = Callable[[dict, Schema], bool]


@dataclass(frozen=True)
class Probe:
    method: str
    path: str                       # as the document names it, e.g. /api/v1/stations/{station_id}
    target: str                     # "query:offset", "path:call_id", "body:evse_id"
    url: str
    params: dict[str, Any]
    body: Any | None

    @property
    def field(self) -> str:
        """The field as FastAPI and the API's errors name it: query.offset, body.id_token.type."""
        kind, name = self.target.split(":")[:2]
        return f"{kind}.{name}"


def resolve(doc: dict, schema: Schema) -> Schema:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def _of_type(kind: str) -> Wanted:
    def wanted(doc: dict, schema: Schema) -> bool:
        schema = resolve(doc, schema)
        if schema.get("type") == kind:
            return True
        return any(wanted(doc, s) for s in [*schema.get("anyOf", ()), *schema.get("oneOf", ())])
    return wanted


is_integer = _of_type("integer")
is_string = _of_type("string")
is_number = _of_type("number")
is_boolean = _of_type("boolean")


def is_date_time(doc: dict, schema: Schema) -> bool:
    schema = resolve(doc, schema)
    if schema.get("type") == "string" and schema.get("format") == "date-time":
        return True
    return any(is_date_time(doc, s) for s in schema.get("anyOf", ()))


def example(doc: dict, schema: Schema) -> Any:
    """A small value the schema accepts."""
    schema = resolve(doc, schema)
    for choice in [*schema.get("anyOf", ()), *schema.get("oneOf", ()), *schema.get("allOf", ())]:
        if resolve(doc, choice).get("type") != "null":
            return example(doc, choice)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return {name: example(doc, schema["properties"][name]) for name in schema.get("required", ())}
    if schema.get("format") == "date-time":
        return "2030-01-01T00:00:00Z"
    return "x" * max(schema.get("minLength", 1), 1)


def object_schema(doc: dict, schema: Schema) -> Schema:
    """The object schema behind refs and an optional (``X | None``) wrapper."""
    schema = resolve(doc, schema)
    for choice in schema.get("anyOf", ()):
        if resolve(doc, choice).get("type") == "object":
            return resolve(doc, choice)
    return schema


def body_fields(doc: dict, schema: Schema, wanted: Wanted, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    schema = object_schema(doc, schema)
    for name, prop in schema.get("properties", {}).items():
        if wanted(doc, prop):
            yield (*prefix, name)
        elif object_schema(doc, prop).get("type") == "object":
            yield from body_fields(doc, prop, wanted, (*prefix, name))


def json_body_schema(operation: dict) -> Schema | None:
    return operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")


def parameter_values(doc: dict, parameters: Sequence[dict]) -> dict[str, Any]:
    """A valid value for each parameter: an example, the probed station for ``station_id``."""
    return {p["name"]: STATION if p["name"] == "station_id" else example(doc, p["schema"]) for p in parameters}


def url_of(path: str, parameters: Sequence[dict], values: dict[str, Any]) -> str:
    return path.format(**{p["name"]: quote(str(values[p["name"]]), safe="") for p in parameters if p["in"] == "path"})


def holder_at(doc: dict, body: dict, schema: Schema, where: Sequence[str]) -> dict:
    """The object at ``where`` inside ``body``; an optional one absent from it is put in, valid."""
    holder = body
    for part in where:
        schema = object_schema(doc, schema)["properties"][part]
        holder = holder.setdefault(part, example(doc, object_schema(doc, schema)))
    return holder


def probes(doc: dict, wanted: Wanted, values: Sequence[Any], *,
           places: Sequence[str] = ("path", "query", "body")) -> Iterator[Probe]:
    """For each parameter (in ``places``) and body field the schema of which is ``wanted``, one
    probe per value of ``values``."""
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            defaults = parameter_values(doc, parameters)
            body_schema = json_body_schema(operation)
            body = example(doc, body_schema) if body_schema else None

            def build(overrides: dict[str, Any], new_body: Any, target: str) -> Probe:
                merged = {**defaults, **overrides}
                query = {p["name"]: merged[p["name"]] for p in parameters
                         if p["in"] == "query" and (p.get("required") or p["name"] in overrides)}
                return Probe(method.upper(), path, target, url_of(path, parameters, merged), query, new_body)

            for parameter in parameters:
                if parameter["in"] in places and wanted(doc, parameter["schema"]):
                    target = f"{parameter['in']}:{parameter['name']}"
                    for value in values:
                        yield build({parameter["name"]: value}, body, f"{target}:{value!r}")
            if body_schema and "body" in places:
                for field_path in body_fields(doc, body_schema, wanted):
                    for value in values:
                        changed = copy.deepcopy(body) if isinstance(body, dict) else {}
                        holder_at(doc, changed, body_schema, field_path[:-1])[field_path[-1]] = value
                        yield build({}, changed, f"body:{'.'.join(field_path)}:{value!r}")


async def send(client: Any, probe: Probe, headers: dict[str, str]) -> Any:
    """The probe as a request. The body as ASCII JSON: what any client may send, lone surrogate
    escapes included (httpx's own encoding would refuse to write those)."""
    content = None if probe.body is None else json.dumps(probe.body).encode()
    return await client.request(probe.method, probe.url, params=probe.params, content=content,
                                headers={**headers, "Content-Type": "application/json"})


def documented(doc: dict, method: str, path: str, status: int) -> bool:
    return str(status) in doc["paths"][path][method.lower()]["responses"]


async def checked(client: Any, doc: dict, probe: Probe, headers: dict[str, str]) -> tuple[Any | None, str | None]:
    """The probe's answer (None for a 500, which the in-process transport raises instead), and
    what is wrong with it: a 500, or a status the route does not document."""
    where = f"{probe.method} {probe.url} {probe.target}"
    try:
        answer = await send(client, probe, headers)
    except Exception as exc:  # noqa: BLE001 - whatever answered 500
        return None, f"{where}: 500 {exc!r}"[:300]
    if answer.status_code == 500 or not documented(doc, probe.method, probe.path, answer.status_code):
        return answer, f"{where}: {answer.status_code} (not documented) {answer.text[:200]}"
    return answer, None
