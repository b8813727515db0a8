"""API tokens over REST: shown once, listed without secrets, revoked for good."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_support import api, sqlite_api  # noqa: F401 - fixtures
from sqlmodel import update

from api.core.audit import run_in_session
from storage.audit import Outcome
from storage.tokens import ApiToken
from storage.types import utcnow


def test_a_created_token_is_shown_once_and_works_with_its_role(api):
    answer = api.client.post("/api/v1/tokens", json={"role": "operator", "name": "rotation script"},
                             headers=api.headers("officer"))
    assert answer.status_code == 201, answer.text
    created = answer.json()
    token = created["token"]
    assert token.startswith(f"cca_{created['id']}_") and created["role"] == "operator"
    assert created["created_by"] == api.actor("officer")

    own = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/stations", headers=own).status_code == 200
    assert api.client.get("/api/v1/audit", headers=own).status_code == 403  # operator, not auditor

    listing = api.client.get("/api/v1/tokens", headers=api.headers("auditor"))
    secret = token.split("_", 2)[2]
    assert secret not in listing.text and "hash" not in listing.text and '"token"' not in listing.text
    assert {t["id"]: t["name"] for t in listing.json()}[created["id"]] == "rotation script"

    [entry] = api.audit("token.create", created["id"])
    assert (entry.actor, entry.outcome) == (api.actor("officer"), Outcome.SUCCESS) and secret not in entry.detail


def test_revoking_a_token_stops_it_and_is_audited(api):
    created = api.client.post("/api/v1/tokens", json={"role": "auditor", "name": "leaving"},
                              headers=api.headers("officer")).json()
    own = {"Authorization": f"Bearer {created['token']}"}
    assert api.client.get("/api/v1/audit", headers=own).status_code == 200

    revoked = api.client.delete(f"/api/v1/tokens/{created['id']}", headers=api.headers("officer"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert api.client.get("/api/v1/audit", headers=own).status_code == 401
    listed = {t["id"]: t for t in api.client.get("/api/v1/tokens", headers=api.headers("officer")).json()}
    assert listed[created["id"]]["revoked_at"] is not None

    [entry] = api.audit("token.revoke", created["id"])
    assert (entry.actor, entry.outcome) == (api.actor("officer"), Outcome.SUCCESS)


def test_revoking_an_unknown_token_is_404_and_audited(sqlite_api):
    answer = sqlite_api.client.delete("/api/v1/tokens/feedfacefeedface", headers=sqlite_api.headers("officer"))
    assert answer.status_code == 404 and "feedfacefeedface" in answer.json()["error"]
    [entry] = sqlite_api.audit("token.revoke", "feedfacefeedface")
    assert entry.outcome == Outcome.REFUSED


@pytest.mark.parametrize(("body", "field"), [
    ({"role": "root", "name": "x"}, "body.role"),
    ({"role": "auditor", "name": ""}, "body.name"),
    ({"role": "auditor", "name": "n" * 101}, "body.name"),
    ({"name": "x"}, "body.role"),
    ({"role": "auditor", "name": "x", "valid_days": 0}, "body.valid_days"),
    ({"role": "auditor", "name": "x", "valid_days": 3651}, "body.valid_days"),
])
def test_invalid_token_requests_name_the_field(sqlite_api, body, field):
    answer = sqlite_api.client.post("/api/v1/tokens", json=body, headers=sqlite_api.headers("officer"))
    assert answer.status_code == 422 and answer.json()["field"] == field
    assert sqlite_api.audit("token.create") and len(sqlite_api.audit("token.create")) == 3  # the fixture's own


def test_a_token_given_days_stops_working_when_they_are_over_even_just_verified(api):
    answer = api.client.post("/api/v1/tokens", json={"role": "auditor", "name": "contractor", "valid_days": 30},
                             headers=api.headers("officer"))
    assert answer.status_code == 201, answer.text
    created = answer.json()
    expires = created["expires_at"]
    assert expires is not None and created["token"]
    own = {"Authorization": f"Bearer {created['token']}"}
    assert api.client.get("/api/v1/audit", headers=own).status_code == 200   # now verified, and remembered
    listed = {t["id"]: t for t in api.client.get("/api/v1/tokens", headers=api.headers("auditor")).json()}
    assert listed[created["id"]]["expires_at"] == expires
    [entry] = api.audit("token.create", created["id"])
    assert '"expires_at"' in entry.detail

    # Thirty days later (the row moved back instead of the clock forward).
    past = utcnow() - timedelta(seconds=1)
    run_in_session(api.ctx, lambda s: s.exec(update(ApiToken).where(ApiToken.id == created["id"])
                                             .values(expires_at=past)))
    refused = api.client.get("/api/v1/audit", headers=own)
    assert refused.status_code == 401 and "expired" in refused.json()["error"]
    assert api.client.get("/api/v1/tokens", headers=api.headers("auditor")).status_code == 200  # the others work


def test_a_token_without_days_works_until_revoked(sqlite_api):
    created = sqlite_api.client.post("/api/v1/tokens", json={"role": "auditor", "name": "monitoring"},
                                     headers=sqlite_api.headers("officer")).json()
    assert created["expires_at"] is None
