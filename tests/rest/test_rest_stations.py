"""Registering stations: the password is shown once, stored only hashed, and never returned again."""

from __future__ import annotations

import pytest
from rest_support import api, sqlite_api  # noqa: F401 - fixtures

from api.core.audit import run_in_session
from api.core.credentials import verify_secret
from storage.audit import Outcome
from storage.stations import Station


def _stored(api, station_id: str) -> Station:
    return run_in_session(api.ctx, lambda s: s.get(Station, station_id))


@pytest.mark.production_argon2
def test_generated_password_is_shown_once_and_stored_hashed(api):
    answer = api.client.post("/api/v1/stations", json={"id": "CS-0001", "security_profile": 2},
                             headers=api.headers("operator"))
    assert answer.status_code == 201, answer.text
    created = answer.json()
    password = created["password"]
    assert len(password) >= 16 and created["has_password"] and created["security_profile"] == 2

    stored = _stored(api, "CS-0001")
    assert password not in stored.password_hash
    # argon2id at the production cost (api/core/credentials.py): two passes over 19 MiB, one lane.
    assert stored.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_secret(stored.password_hash, password)

    for path in ("/api/v1/stations/CS-0001", "/api/v1/stations"):
        text = api.client.get(path, headers=api.headers("auditor")).text
        assert password not in text and "hash" not in text and '"password"' not in text
    one = api.client.get("/api/v1/stations/CS-0001", headers=api.headers("auditor")).json()
    assert one["id"] == "CS-0001" and one["has_password"] is True

    [entry] = api.audit("station.add", "CS-0001")
    assert (entry.actor, entry.outcome) == (api.actor("operator"), Outcome.SUCCESS)
    assert password not in entry.detail


def test_a_given_password_is_not_echoed(sqlite_api):
    chosen = "Station-Pass-1234567890"
    answer = sqlite_api.client.post("/api/v1/stations", json={"id": "CS-0002", "password": chosen},
                                    headers=sqlite_api.headers("officer"))
    assert answer.status_code == 201
    assert answer.json()["password"] is None and chosen not in answer.text
    assert verify_secret(_stored(sqlite_api, "CS-0002").password_hash, chosen)


def test_profile_3_gets_no_password(sqlite_api):
    answer = sqlite_api.client.post("/api/v1/stations", json={"id": "CS-0003", "security_profile": 3},
                                    headers=sqlite_api.headers("officer"))
    assert answer.status_code == 201
    assert answer.json()["password"] is None and answer.json()["has_password"] is False
    assert _stored(sqlite_api, "CS-0003").password_hash is None


def test_registering_twice_is_a_conflict_and_audited(api):
    api.register_station("CS-0004")
    answer = api.client.post("/api/v1/stations", json={"id": "CS-0004"}, headers=api.headers("officer"))
    assert answer.status_code == 409
    assert answer.json()["rule"] == "station.exists" and "CS-0004" in answer.json()["error"]
    outcomes = [(e.actor, e.outcome) for e in api.audit("station.add", "CS-0004")]
    assert outcomes == [(api.actor("operator"), Outcome.SUCCESS), (api.actor("officer"), Outcome.REFUSED)]


def test_an_identity_differing_only_in_case_is_the_same_station(api):
    """OCPP compares identifierStrings without case: a second row would split one station."""
    api.register_station("CS-Case-1")
    for twin in ("cs-case-1", "CS-CASE-1"):
        answer = api.client.post("/api/v1/stations", json={"id": twin}, headers=api.headers("officer"))
        assert answer.status_code == 409, answer.text
        assert answer.json()["rule"] == "station.exists" and "'CS-Case-1'" in answer.json()["error"]
        assert [e.outcome for e in api.audit("station.add", twin)] == [Outcome.REFUSED]
    assert [s["id"] for s in api.client.get("/api/v1/stations", headers=api.headers("auditor")).json()
            if s["id"].lower() == "cs-case-1"] == ["CS-Case-1"]


@pytest.mark.parametrize(("body", "status", "rule", "field"), [
    ({"id": "CS:0005"}, 422, "station.id", "id"),
    ({"id": "CS\u00070005"}, 422, "station.id", "id"),  # admission refuses control characters: so does this
    ({"id": "CS-0005", "password": "short"}, 422, "station.password", "password"),
])
def test_refused_registrations_name_the_rule_and_are_audited(sqlite_api, body, status, rule, field):
    answer = sqlite_api.client.post("/api/v1/stations", json=body, headers=sqlite_api.headers("officer"))
    assert answer.status_code == status
    error = answer.json()
    assert (error["rule"], error["field"]) == (rule, field)
    if "password" in body:
        assert body["password"] not in answer.text
        [entry] = sqlite_api.audit("station.add", body["id"])
        assert entry.outcome == Outcome.REFUSED and rule in entry.detail
    assert _stored(sqlite_api, body["id"]) is None


@pytest.mark.parametrize(("body", "field"), [
    ({"id": "CS-0006", "security_profile": 4}, "body.security_profile"),
    ({"id": ""}, "body.id"),
    ({"id": "X" * 49}, "body.id"),
    ({"security_profile": 2}, "body.id"),
])
def test_invalid_bodies_name_the_field(sqlite_api, body, field):
    answer = sqlite_api.client.post("/api/v1/stations", json=body, headers=sqlite_api.headers("officer"))
    assert answer.status_code == 422
    error = answer.json()
    assert error["field"] == field and field in error["error"]
    listed = sqlite_api.client.get("/api/v1/stations", headers=sqlite_api.headers("officer")).json()
    assert listed == []


def test_unknown_station_is_404(sqlite_api):
    answer = sqlite_api.client.get("/api/v1/stations/NOPE", headers=sqlite_api.headers("auditor"))
    assert answer.status_code == 404 and "NOPE" in answer.json()["error"]


def test_list_is_ordered_and_paged(sqlite_api):
    for station_id in ("CS-B", "CS-A", "CS-C"):
        sqlite_api.register_station(station_id)
    headers = sqlite_api.headers("auditor")
    first = sqlite_api.client.get("/api/v1/stations?limit=2", headers=headers).json()
    rest = sqlite_api.client.get("/api/v1/stations?limit=2&offset=2", headers=headers).json()
    assert [s["id"] for s in first + rest] == ["CS-A", "CS-B", "CS-C"]
