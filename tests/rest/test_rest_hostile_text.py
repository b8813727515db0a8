"""Text no column can store, on every route, on SQLite and on PostgreSQL.

A NUL character in any string a client sends (the path, a query parameter, a JSON body) and a
lone surrogate in a JSON body (``"\\ud800"``: the one way to send one) are refused with 422
naming the field, before any route runs; on PostgreSQL a NUL used to reach the driver, a 500.
Dates at the ends of the calendar, wherever a date is taken, get a documented answer. Like
tests/rest/test_rest_fuzz.py, the OpenAPI document is walked: a route added later is covered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from ocpp_support import Csms, open_csms
from openapi_probes import STATION, checked, is_date_time, is_number, is_string, probes, send

from api.core.text import first_where
from api.rest.text_guard import unacceptable

NUL_TEXT = "CS\x00-1"
LONE_SURROGATE = "CS-\ud800"
EXTREME_DATES = ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999Z",
                 "9999-12-31T23:59:59-12:00")


@pytest.fixture
async def csms(pki) -> AsyncIterator[Csms]:
    async for made in open_csms(pki):
        yield made


async def test_unstorable_text_anywhere_is_refused_naming_the_field(csms: Csms) -> None:
    csms.add_station(STATION)
    doc = (await csms.rest.get("/openapi.json")).json()
    seen = [*probes(doc, is_string, [NUL_TEXT]), *probes(doc, is_string, [LONE_SURROGATE], places=["body"])]
    fields = {probe.field for probe in seen}
    assert {"path.station_id", "query.station_id", "query.action", "body.id", "body.id_token.id_token"} <= fields
    failures = []
    for probe in seen:
        answer = await send(csms.rest, probe, csms.headers("officer"))
        # The path is checked before any route is known: it is named as a whole.
        field = "path" if probe.field.startswith("path.") else probe.field
        body = answer.json()
        if (answer.status_code, body.get("rule"), body.get("field")) != (422, "request.text", field):
            failures.append(f"{probe.method} {probe.url} {probe.target}: {answer.status_code} {answer.text[:200]}")
    assert not failures, f"{len(failures)} of {len(seen)}:\n" + "\n".join(failures)


async def test_numbers_json_does_not_have_are_refused_naming_the_field(csms: Csms) -> None:
    """NaN and Infinity, which Python's parser takes: a typed command would send them on."""
    csms.add_station(STATION)
    doc = (await csms.rest.get("/openapi.json")).json()
    seen = list(probes(doc, is_number, [float("nan"), float("inf"), -float("inf")], places=["body"]))
    assert "body.total_cost" in {probe.field for probe in seen}
    failures = []
    for probe in seen:
        answer = await send(csms.rest, probe, csms.headers("officer"))
        if (answer.status_code, answer.json().get("field")) != (422, probe.field):
            failures.append(f"{probe.method} {probe.url} {probe.target}: {answer.status_code} {answer.text[:200]}")
    assert not failures, "\n".join(failures)
    # 1e400 is JSON, but no double: read as infinity.
    beyond = await csms.rest.post(f"/api/v1/stations/{STATION}/commands/CostUpdated",
                                  headers={**csms.headers("officer"), "Content-Type": "application/json"},
                                  content=b'{"total_cost": 1e400, "transaction_id": "T-1"}')
    assert (beyond.status_code, beyond.json()["field"]) == (422, "body.total_cost")
    assert "finite" in beyond.json()["error"]


async def test_a_refused_request_changes_nothing(csms: Csms) -> None:
    officer = csms.headers("officer")
    before = (await csms.rest.get("/api/v1/stations", headers=officer)).json()
    answer = await csms.rest.post("/api/v1/stations", headers={**officer, "Content-Type": "application/json"},
                                  content=b'{"id": "CS-1\\u0000", "security_profile": 2}')
    assert answer.status_code == 422
    assert answer.json()["field"] == "body.id"
    assert "NUL" in answer.json()["error"]
    assert (await csms.rest.get("/api/v1/stations", headers=officer)).json() == before


async def test_a_bad_key_a_bad_parameter_name_and_a_body_too_deep(csms: Csms) -> None:
    officer = {**csms.headers("officer"), "Content-Type": "application/json"}
    key = await csms.rest.post("/api/v1/stations", headers=officer,
                               content=b'{"id": "CS-2", "options": {"\\udfff": 1}}')
    assert (key.status_code, key.json()["field"]) == (422, "body.options")
    assert "key" in key.json()["error"]
    name = await csms.rest.get("/api/v1/stations?x%00y=1", headers=officer)
    assert (name.status_code, name.json()["field"]) == (422, "query")
    # Percent-escapes that decode to no UTF-8 (CESU's lone surrogate, a stray continuation byte).
    for query, field in (("id_token=%ED%A0%80", "query.id_token"), ("id%80=1", "query")):
        garbled = await csms.rest.get(f"/api/v1/transactions?{query}", headers=officer)
        assert (garbled.status_code, garbled.json()["field"]) == (422, field), garbled.text
        assert "not UTF-8" in garbled.json()["error"]
    assert (await csms.rest.get("/api/v1/transactions?id_token=%C3%A9", headers=officer)).status_code == 200
    # Within the body limit (64 KiB), far deeper than the parser goes.
    deep = await csms.rest.post("/api/v1/stations", headers=officer, content=b"[" * 30_000 + b"]" * 30_000)
    assert deep.status_code == 400 and "nested" in deep.json()["error"]
    # A body that is no JSON at all is still the route's to answer, as before.
    broken = await csms.rest.post("/api/v1/stations", headers=officer, content=b'{"id": ')
    assert broken.status_code == 422 and broken.json()["error"] != deep.json()["error"]


async def test_dates_at_the_ends_of_the_calendar_get_documented_answers(csms: Csms) -> None:
    csms.add_station(STATION)
    doc = (await csms.rest.get("/openapi.json")).json()
    seen = list(probes(doc, is_date_time, EXTREME_DATES))
    assert {"query.since", "body.cache_expiry", "body.retrieve_date_time"} <= {probe.field for probe in seen}
    failures = []
    for probe in seen:
        _, failure = await checked(csms.rest, doc, probe, csms.headers("officer"))
        if failure:
            failures.append(failure)
    assert not failures, "\n".join(failures)


def test_the_first_unstorable_string_is_found_in_document_order_at_any_depth() -> None:
    found = first_where({"a": ["ok", {"b": "x\x00"}], "c": "\ud800"}, unacceptable)
    assert found is not None and found[0] == ("a", 1, "b") and "NUL" in found[1]
    deep: list = ["\ud800"]
    for _ in range(100_000):   # far past the interpreter's recursion limit
        deep = [deep]
    found = first_where(deep, unacceptable)
    assert found is not None and len(found[0]) == 100_001 and "surrogate" in found[1]
    assert first_where({"plain": ["text", 1, None, {"é": "ü"}]}, unacceptable) is None
