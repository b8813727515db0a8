"""Every integer a client can send, at sizes no database column holds, on every route.

The OpenAPI document is the contract: the test walks it, so a route added later is covered
without touching this file. Each integer parameter (path, query, or a field of the JSON body)
gets values beyond 64 bits, one at a time, with the rest of the request valid; the answer must
be a documented status of that route (422 naming the field, for these), never a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp_support import Csms, open_csms
from openapi_probes import STATION, checked, documented, is_integer, probes

HUGE = (2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30)


@pytest.fixture
async def csms(pki) -> AsyncIterator[Csms]:
    """On SQLite and on PostgreSQL."""
    async for made in open_csms(pki):
        yield made


async def test_huge_integers_never_answer_500_and_every_status_is_documented(csms: Csms) -> None:
    csms.add_station(STATION)
    doc = (await csms.rest.get("/openapi.json")).json()
    seen = list(probes(doc, is_integer, HUGE))
    targets = {p.target.rsplit(":", 1)[0] for p in seen}
    assert {"query:offset", "query:before", "path:call_id", "path:row_id"} <= targets, targets
    failures = []
    for probe in seen:
        answer, failure = await checked(csms.rest, doc, probe, csms.headers("officer"))
        if failure:
            failures.append(failure)
        elif answer.status_code == 422:
            where = f"{probe.method} {probe.url} {probe.target}: {answer.status_code}"
            field = probe.target.split(":")[1]
            named = [answer.json().get("field") or ""] + [p["field"] for p in answer.json().get("problems", [])]
            if not any(name.split(".")[-1] == field.split(".")[-1] for name in named):
                failures.append(f"{where} names {named}, not {field}")
    assert not failures, "\n".join(failures)


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
                if answer.status_code == 500 or not documented(doc, method, path, answer.status_code):
                    failures.append(f"{method.upper()} {url}: {answer.status_code} {answer.text[:120]}")
    assert {401, 413, 415, 422} <= seen, seen
    assert not failures, "\n".join(failures)
