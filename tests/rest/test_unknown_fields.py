"""A key no field of the body has is refused with 422 naming it, on every route that takes a JSON
body and in every object inside one (api/rest/request_body.py), typed commands and the spec's
data types included; so is a query parameter the route does not take (api/rest/query_guard.py),
while every parameter it documents still passes. Like tests/rest/test_rest_hostile_text.py, the
OpenAPI document is walked: a route added later is covered."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator

import pytest
from core_support import command
from ocpp_support import Csms, open_csms
from openapi_probes import (
    STATION,
    Probe,
    example,
    holder_at,
    json_body_schema,
    object_schema,
    parameter_values,
    send,
    url_of,
)

from api.rest.errors import UNKNOWN_FIELD

pytestmark = pytest.mark.fast

UNKNOWN = "no_such_field"


@pytest.fixture
async def csms(sqlite_pki) -> AsyncIterator[Csms]:
    async for made in open_csms(sqlite_pki):
        yield made


def _objects(doc: dict, schema: dict, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The body itself and every object-valued property inside it, as paths."""
    yield prefix
    for name, prop in object_schema(doc, schema).get("properties", {}).items():
        if object_schema(doc, prop).get("type") == "object" and object_schema(doc, prop).get("properties"):
            yield from _objects(doc, prop, (*prefix, name))


def _probes(doc: dict) -> Iterator[Probe]:
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            schema = json_body_schema(operation)
            if schema is None:
                continue
            parameters = operation.get("parameters", [])
            values = parameter_values(doc, parameters)
            url = url_of(path, parameters, values)
            query = {p["name"]: values[p["name"]] for p in parameters if p["in"] == "query" and p.get("required")}
            base = example(doc, schema)
            for where in _objects(doc, schema):
                body = copy.deepcopy(base)
                holder_at(doc, body, schema, where)[UNKNOWN] = 1
                yield Probe(method.upper(), path, f"body:{'.'.join((*where, UNKNOWN))}", url, query, body)


async def test_a_key_no_field_has_is_refused_naming_it_on_every_route(csms: Csms) -> None:
    csms.add_station(STATION)
    doc = (await csms.rest.get("/openapi.json")).json()
    seen = list(_probes(doc))
    fields = {probe.field for probe in seen}
    assert {"body.no_such_field", "body.id_token.no_such_field", "body.evse.no_such_field"} <= fields
    failures = []
    for probe in seen:
        answer = await send(csms.rest, probe, csms.headers("officer"))
        problems = answer.json().get("problems", []) if answer.status_code == 422 else []
        if {"field": probe.field, "problem": UNKNOWN_FIELD} not in problems:
            failures.append(f"{probe.method} {probe.url} {probe.target}: {answer.status_code} {answer.text[:200]}")
    assert not failures, f"{len(failures)} of {len(seen)}:\n" + "\n".join(failures)


async def test_a_misspelt_field_changes_nothing(csms: Csms) -> None:
    """What a misspelling used to do behind a 2xx: a station made with a generated password
    instead of the officer's; a remote start sent without its EVSE."""
    headers = csms.headers("officer")
    answer = await csms.rest.post("/api/v1/stations", headers=headers,
                                  json={"id": "CS-U1", "pasword": "Station-Password-0123"})
    assert answer.status_code == 422 and answer.json()["field"] == "body.pasword", answer.text
    assert (await csms.rest.get("/api/v1/stations/CS-U1", headers=headers)).status_code == 404

    csms.add_station("CS-U2")
    started = await command(csms, "CS-U2", "RequestStartTransaction",
                            {"id_token": {"id_token": "04A1", "type": "ISO14443"}, "remote_start_id": 1, "evseId": 2})
    assert started.status_code == 422 and started.json()["field"] == "body.evseId", started.text


def _with_query(doc: dict, extra: dict[str, str]) -> Iterator[Probe]:
    """Every operation with every query parameter it documents (an example value each), and ``extra``."""
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            values = parameter_values(doc, parameters)
            query = {p["name"]: values[p["name"]] for p in parameters if p["in"] == "query"}
            schema = json_body_schema(operation)
            body = example(doc, schema) if schema else None
            yield Probe(method.upper(), path, "query:" + ",".join([*query, *extra]), url_of(path, parameters, values),
                        {**query, **extra}, body)


async def test_a_query_parameter_the_route_does_not_take_is_refused_and_those_it_takes_pass(csms: Csms) -> None:
    csms.add_station(STATION)
    doc = (await csms.rest.get("/openapi.json")).json()
    refused, passed = [], []
    for probe in _with_query(doc, {"no_such_parameter": "1"}):
        answer = await send(csms.rest, probe, csms.headers("officer"))
        if (answer.status_code, answer.json().get("field")) != (422, "query.no_such_parameter"):
            refused.append(f"{probe.method} {probe.url}: {answer.status_code} {answer.text[:200]}")
    for probe in _with_query(doc, {}):
        answer = await send(csms.rest, probe, csms.headers("officer"))
        if answer.headers.get("content-type", "").startswith("application/json") and \
                answer.status_code == 422 and answer.json().get("rule") == "request.query":
            passed.append(f"{probe.method} {probe.url} {probe.params}: {answer.text[:200]}")
    assert not refused, f"{len(refused)} routes took an unknown parameter:\n" + "\n".join(refused)
    assert not passed, f"{len(passed)} routes refused a parameter they document:\n" + "\n".join(passed)


async def test_a_misspelt_filter_widens_nothing(csms: Csms) -> None:
    answer = await csms.rest.get("/api/v1/meter-values?format=csv&stationid=CS-1", headers=csms.headers("auditor"))
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert (body["rule"], body["field"]) == ("request.query", "query.stationid")
    assert "station_id" in body["error"] and "CS-1" not in body["error"]
