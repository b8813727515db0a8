"""A value sent as one JSON type is never read as another (api/core/json_kinds.py): on every
route that takes a JSON body, typed commands and the spec's data types included, a boolean or a
numeric string where an integer goes, a number or a string where a boolean goes, and a number
where a date-time goes are refused with 422 naming the field, where pydantic's lax reading took
them (``"evse_id": true`` sent an UnlockConnector to EVSE 1). The OpenAPI document is walked, as
in tests/rest/test_rest_fuzz.py: a route added later is covered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from ocpp_support import Csms, open_csms
from openapi_probes import STATION, is_boolean, is_date_time, is_integer, probes, send

from api.core.json_kinds import retyped

pytestmark = pytest.mark.fast


@pytest.fixture
async def csms(sqlite_pki) -> AsyncIterator[Csms]:
    async for made in open_csms(sqlite_pki):
        yield made


async def test_a_value_of_another_json_type_is_refused_naming_the_field_on_every_route(csms: Csms) -> None:
    csms.add_station(STATION)
    doc = (await csms.rest.get("/openapi.json")).json()
    seen = [*probes(doc, is_integer, [True, "1"], places=["body"]),
            *probes(doc, is_boolean, [1, "true"], places=["body"]),
            *probes(doc, is_date_time, [1_000_000_000_000], places=["body"])]
    fields = {probe.target.rsplit(":", 1)[0] for probe in seen}
    assert {"body:evse_id", "body:dry_run", "body:cache_expiry"} <= fields, fields
    failures = []
    for probe in seen:
        answer = await send(csms.rest, probe, csms.headers("officer"))
        field = "body." + probe.target.split(":")[1]
        problems = answer.json().get("problems", []) if answer.status_code == 422 else []
        # Refused by the JSON type, or earlier by a bound the lax reading met (True as 1 < 16).
        if not any(p["field"] == field for p in problems):
            failures.append(f"{probe.method} {probe.url} {probe.target}: {answer.status_code} {answer.text[:200]}")
    assert not failures, f"{len(failures)} of {len(seen)}:\n" + "\n".join(failures)


async def test_the_same_value_in_its_own_json_type_is_taken(csms: Csms) -> None:
    csms.add_station(STATION)
    officer = csms.headers("officer")
    refused = await csms.rest.post(f"/api/v1/stations/{STATION}/commands/UnlockConnector",
                                   json={"evse_id": True, "connector_id": 1}, headers=officer)
    assert refused.status_code == 422 and refused.json()["field"] == "body.evse_id", refused.text
    assert "a JSON boolean was sent where an integer is expected" in refused.json()["error"]
    # Past the body's check, the station's connection is what is missing: the body was taken.
    taken = await csms.rest.post(f"/api/v1/stations/{STATION}/commands/UnlockConnector",
                                 json={"evse_id": 1, "connector_id": 1}, headers=officer)
    assert taken.status_code == 409, taken.text


@pytest.mark.parametrize(("sent", "read", "found"), [
    ({"a": 5}, {"a": 5.0}, None),                     # one number type in JSON
    ({"a": 5.0}, {"a": 5}, None),                     # 5.0 is an integer to JSON Schema
    ({"a": 5.5}, {"a": 5}, (("a",), "number", "integer")),
    ({"a": True}, {"a": 1}, (("a",), "boolean", "integer")),
    ({"a": [{"b": "1"}]}, {"a": [{"b": 1}]}, (("a", 0, "b"), "string", "integer")),
    ({"a": 10**400}, {"a": float("inf")}, (("a",), "integer", "number")),
    ({"a": "x", "extra": 1}, {"a": "x"}, None),       # a key not read is the unknown-field check's
])
def test_retyped_finds_the_first_value_whose_json_type_changed(sent, read, found) -> None:
    result = retyped(sent, read)
    if found is None:
        assert result is None
    else:
        path, sent_kind, read_kind = found
        assert result is not None and result[0] == path
        assert f"a JSON {sent_kind} was sent" in result[1] and read_kind in result[1]
