"""REST translates a refusal in one place: its flavour gives the status, its rule and details the body."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.core.refusal import Conflict, NotFound, Refusal, RoleRequired
from api.ocpp.gateway import StationNotConnected
from api.rest import errors
from pki.issuance import CsrRefused, UnknownStation
from pki.revocation import AlreadyRevoked
from policies.model import Decision

pytestmark = pytest.mark.fast

REFUSALS = {
    "plain": Refusal("token.role", "role must be one of officer, operator, auditor"),
    "role": RoleRequired("station.profile.role", "only an officer may lower a profile", ["officer"]),
    "missing": NotFound("certificate.unknown", "no certificate with serial 1f"),
    "state": Conflict("rotation.busy", "a pass is running"),
    "csr": CsrRefused(Decision.refuse("csr.key_reuse", "this key was certified before")),
    "station": UnknownStation("CP-9"),
    "offline": StationNotConnected("CP-9"),
    "revoked": AlreadyRevoked("revocation.already_revoked", "certificate 1f is already revoked (superseded)"),
    "sneaky": Refusal("x.rule", "the reason", details={"rule": "other", "error": "other", "limit": 3}),
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.get("/{name}")
    def refuse(name: str) -> None:
        raise REFUSALS[name]

    return TestClient(app)


@pytest.mark.parametrize("name, status, body", [
    ("plain", 422, {"error": "role must be one of officer, operator, auditor", "rule": "token.role", "field": "role"}),
    ("role", 403, {"error": "only an officer may lower a profile", "rule": "station.profile.role",
                   "required_roles": ["officer"]}),
    ("missing", 404, {"error": "no certificate with serial 1f", "rule": "certificate.unknown"}),
    ("state", 409, {"error": "a pass is running", "rule": "rotation.busy"}),
    ("csr", 422, {"error": "this key was certified before", "rule": "csr.key_reuse", "field": "csr"}),
    ("station", 404, {"error": "station 'CP-9' is not registered", "rule": "station.unknown"}),
    ("offline", 409, {"error": "station 'CP-9' is not connected", "rule": "station.not_connected",
                      "call_status": "not_connected", "sent": False}),
    ("revoked", 409, {"error": "certificate 1f is already revoked (superseded)", "rule": "revocation.already_revoked"}),
])
def test_each_flavour_of_refusal_has_its_status_and_names_its_rule(client, name, status, body):
    answer = client.get(f"/{name}")
    assert (answer.status_code, answer.json()) == (status, body)


def test_details_never_replace_the_error_or_the_rule(client):
    assert client.get("/sneaky").json() == {"error": "the reason", "rule": "x.rule", "limit": 3}
