"""API tokens over REST: shown once, listed without secrets, revoked for good."""

from __future__ import annotations

import pytest
from rest_support import api, sqlite_api  # noqa: F401 - fixtures

from storage.audit import Outcome


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
])
def test_invalid_token_requests_name_the_field(sqlite_api, body, field):
    answer = sqlite_api.client.post("/api/v1/tokens", json=body, headers=sqlite_api.headers("officer"))
    assert answer.status_code == 422 and answer.json()["field"] == field
    assert sqlite_api.audit("token.create") and len(sqlite_api.audit("token.create")) == 3  # the fixture's own
