"""Every integer a client can send, at sizes no database column holds, on every route.

The OpenAPI document is the contract: the test walks it, so a route added later is covered
without touching this file. Each integer parameter (path, query, or a field of the JSON body)
gets values beyond 64 bits, one at a time, with the rest of the request valid; the answer must
be a documented status of that route (422 naming the field, for these), never a 500.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from ocpp_support import Csms, open_csms

HUGE = (2**63, -(2**63) - 1, 10**30)
STATION = "FUZZ-1"


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    target: str                     # "query:offset", "path:call_id", "body:evse_id"
    url: str
    params: dict[str, Any]
    body: Any | None


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def _is_integer(doc: dict, schema: dict) -> bool:
    schema = _resolve(doc, schema)
    if schema.get("type") == "integer":
        return True
    return any(_is_integer(doc, s) for s in [*schema.get("anyOf", ()), *schema.get("oneOf", ())])


def _example(doc: dict, schema: dict) -> Any:
    """A small value the schema accepts."""
    schema = _resolve(doc, schema)
    for choice in [*schema.get("anyOf", ()), *schema.get("oneOf", ()), *schema.get("allOf", ())]:
        if _resolve(doc, choice).get("type") != "null":
            return _example(doc, choice)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return {name: _example(doc, schema["properties"][name]) for name in schema.get("required", ())}
    return "x" * max(schema.get("minLength", 1), 1)


def _object(doc: dict, schema: dict) -> dict:
    """The object schema behind refs and an optional (``X | None``) wrapper."""
    schema = _resolve(doc, schema)
    for choice in schema.get("anyOf", ()):
        if _resolve(doc, choice).get("type") == "object":
            return _resolve(doc, choice)
    return schema


def _body_integers(doc: dict, schema: dict, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    schema = _object(doc, schema)
    for name, prop in schema.get("properties", {}).items():
        if _is_integer(doc, prop):
            yield (*prefix, name)
        elif _object(doc, prop).get("type") == "object":
            yield from _body_integers(doc, prop, (*prefix, name))


def probes(doc: dict) -> Iterator[Probe]:
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            values = {p["name"]: _example(doc, p["schema"]) for p in parameters}
            values.update({p["name"]: STATION for p in parameters if p["name"] == "station_id"})
            body_schema = (operation.get("requestBody", {}).get("content", {})
                           .get("application/json", {}).get("schema"))
            body = _example(doc, body_schema) if body_schema else None

            def build(overrides: dict[str, Any], new_body: Any, target: str) -> Probe:
                merged = {**values, **overrides}
                url = path.format(**{p["name"]: merged[p["name"]] for p in parameters if p["in"] == "path"})
                query = {p["name"]: merged[p["name"]] for p in parameters
                         if p["in"] == "query" and (p.get("required") or p["name"] in overrides)}
                return Probe(method.upper(), path, target, url, query, new_body)

            for parameter in parameters:
                if _is_integer(doc, parameter["schema"]):
                    for huge in HUGE:
                        yield build({parameter["name"]: huge}, body, f"{parameter['in']}:{parameter['name']}:{huge}")
            if body_schema:
                for field_path in _body_integers(doc, body_schema):
                    for huge in HUGE:
                        changed = copy.deepcopy(body) if isinstance(body, dict) else {}
                        holder, schema = changed, body_schema
                        for part in field_path[:-1]:
                            # An optional object absent from the example: a valid one around the field.
                            schema = _object(doc, schema)["properties"][part]
                            holder = holder.setdefault(part, _example(doc, _object(doc, schema)))
                        holder[field_path[-1]] = huge
                        yield build({}, changed, f"body:{'.'.join(field_path)}:{huge}")


@pytest.fixture
async def csms(pki) -> AsyncIterator[Csms]:
    """On SQLite and on PostgreSQL."""
    async for made in open_csms(pki):
        yield made


async def test_huge_integers_never_answer_500_and_every_status_is_documented(csms: Csms) -> None:
    csms.add_station(STATION)
    doc = (await csms.rest.get("/openapi.json")).json()
    seen = list(probes(doc))
    targets = {p.target.rsplit(":", 1)[0] for p in seen}
    assert {"query:offset", "query:before", "path:call_id", "path:row_id"} <= targets, targets
    failures = []
    for probe in seen:
        try:
            answer = await csms.rest.request(probe.method, probe.url, params=probe.params, json=probe.body,
                                             headers=csms.headers("officer"))
        except Exception as exc:  # noqa: BLE001 - the in-process transport re-raises what answered 500
            failures.append(f"{probe.method} {probe.url} {probe.target}: 500 {exc!r}"[:300])
            continue
        documented = doc["paths"][probe.path][probe.method.lower()]["responses"]
        where = f"{probe.method} {probe.url} {probe.target}: {answer.status_code}"
        if answer.status_code == 500 or str(answer.status_code) not in documented:
            failures.append(f"{where} (documented {sorted(documented)}) {answer.text[:200]}")
        elif answer.status_code == 422:
            field = probe.target.split(":")[1]
            named = [answer.json().get("field") or ""] + [p["field"] for p in answer.json().get("problems", [])]
            if not any(name.split(".")[-1] == field.split(".")[-1] for name in named):
                failures.append(f"{where} names {named}, not {field}")
    assert not failures, "\n".join(failures)


def _documented(doc: dict, method: str, path: str, status: int) -> bool:
    return str(status) in doc["paths"][path][method.lower()]["responses"]


async def test_malformed_requests_get_documented_answers(csms: Csms) -> None:
    """No token, a body that is not JSON, broken JSON, an oversized body: each route's answer
    to these is in its OpenAPI entry."""
    csms.add_station(STATION)
    doc = (await csms.rest.get("/openapi.json")).json()
    failures = []
    seen: set[int] = set()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            url = path.format(**{p["name"]: STATION if p["name"] == "station_id" else "1"
                                 for p in operation.get("parameters", []) if p["in"] == "path"})
            officer = csms.headers("officer")
            attempts: list[dict[str, Any]] = []
            if operation.get("security"):
                attempts.append({"headers": {}})
            if "requestBody" in operation:
                attempts += [
                    {"headers": {**officer, "Content-Type": "text/plain"}, "content": b"{}"},
                    {"headers": {**officer, "Content-Type": "application/json"}, "content": b"{\"id\": "},
                    {"headers": {**officer, "Content-Type": "application/json"}, "content": b" " * (1 << 20)},
                ]
            for attempt in attempts:
                answer = await csms.rest.request(method.upper(), url, **attempt)
                seen.add(answer.status_code)
                if answer.status_code == 500 or not _documented(doc, method, path, answer.status_code):
                    failures.append(f"{method.upper()} {url}: {answer.status_code} {answer.text[:120]}")
    assert {401, 413, 415, 422} <= seen, seen
    assert not failures, "\n".join(failures)
