"""Bearer tokens, the role matrix, the verified-token cache and revocation of tokens."""

from __future__ import annotations

import itertools
import re

import pytest
from fastapi.testclient import TestClient
from rest_support import ROLES, new_token, shared_api, sqlite_api  # noqa: F401 - fixtures

import api.rest.auth as auth
from api.csms.call_rules import least_role
from api.csms.routes import COMMANDS
from api.rest.app import create_app
from api.rest.auth import VerifiedTokens

ALL = frozenset(ROLES)
STATION_OPS = frozenset({"officer", "operator"})
OVERSIGHT = frozenset({"officer", "auditor"})
OFFICER = frozenset({"officer"})
_unique = itertools.count()

# (method, path, JSON body or None, roles allowed). Bodies are valid enough that an allowed
# role gets past authorisation to a real answer (2xx, 404, 422), never 401/403.
MATRIX = [
    ("GET", "/api/v1/stations", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH", None, ALL),
    ("POST", "/api/v1/stations", lambda: {"id": f"M-{next(_unique)}"}, STATION_OPS),
    ("POST", "/api/v1/stations/NO-SUCH/certificates", {"csr": "not a csr"}, STATION_OPS),
    # Upkeep: the kill switch is any operator's; undoing it and deleting are an officer's.
    ("POST", "/api/v1/stations/NO-SUCH/disable", {}, STATION_OPS),
    ("POST", "/api/v1/stations/NO-SUCH/enable", None, OFFICER),
    ("DELETE", "/api/v1/stations/NO-SUCH", None, OFFICER),
    ("PUT", "/api/v1/stations/NO-SUCH/password", {"password": "x"}, STATION_OPS),
    ("PUT", "/api/v1/stations/NO-SUCH/security-profile", {"security_profile": 2}, STATION_OPS),
    ("GET", "/api/v1/certificates", None, ALL),
    ("GET", "/api/v1/certificates/abc123", None, ALL),
    ("POST", "/api/v1/certificates/abc123/revoke", {"reason": "superseded"}, OFFICER),
    ("GET", "/api/v1/ca", None, ALL),
    ("GET", "/api/v1/ca/root.pem", None, ALL),
    ("POST", "/api/v1/ca/v2g", None, OFFICER),
    ("GET", "/api/v1/audit", None, OVERSIGHT),
    ("GET", "/api/v1/audit/verify", None, OVERSIGHT),
    ("GET", "/api/v1/tokens", None, OVERSIGHT),
    ("POST", "/api/v1/tokens", {"role": "auditor", "name": "matrix"}, OFFICER),
    ("DELETE", "/api/v1/tokens/0000000000000000", None, OFFICER),
    ("GET", "/api/v1/policy", None, ALL),
    ("GET", "/api/v1/security-events", None, ALL),
    # The OCPP message log (api/rest/routers/message_log.py): redacted, but every customer's sessions.
    ("GET", "/api/v1/message-log", None, OVERSIGHT),
    ("GET", "/api/v1/message-log/export", None, OVERSIGHT),
    # Station operations over OCPP (api/rest/routers/station_ops.py); without a gateway in the
    # process the allowed roles get 503.
    ("GET", "/api/v1/connections", None, ALL),
    ("POST", "/api/v1/stations/NO-SUCH/calls", {"action": "TriggerMessage"}, STATION_OPS),
    ("GET", "/api/v1/stations/NO-SUCH/calls/1", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/calls", None, ALL),
    ("DELETE", "/api/v1/stations/NO-SUCH/calls/1", None, STATION_OPS),
    # Typed commands: an action no operator may ever send is an officer's before its body is read (403 even
    # for a missing body); the others' role may depend on the payload (call_rules, tests/doors/test_action_roles.py).
    *[("POST", f"/api/v1/stations/NO-SUCH/commands/{action}", None,
       OFFICER if least_role(action) == "officer" else STATION_OPS) for action in sorted(COMMANDS)],
    ("PUT", "/api/v1/stations/NO-SUCH/boot-policy", {"status": "Accepted"}, STATION_OPS),
    ("POST", "/api/v1/stations/NO-SUCH/password-rotation", {}, STATION_OPS),
    ("POST", "/api/v1/stations/NO-SUCH/security-profile-upgrade", {}, STATION_OPS),
    # Trust anchors on stations (api/rest/routers/trust_anchors.py): installing or deleting any
    # root is a CA-level change.
    ("GET", "/api/v1/stations/NO-SUCH/installed-certificates", None, ALL),
    ("POST", "/api/v1/stations/NO-SUCH/installed-certificates/refresh", {}, STATION_OPS),
    ("POST", "/api/v1/stations/NO-SUCH/installed-certificates",
     {"certificate_type": "CSMSRootCertificate", "source": "csms-root"}, OFFICER),
    ("DELETE", "/api/v1/stations/NO-SUCH/installed-certificates/1", None, OFFICER),
    ("POST", "/api/v1/stations/NO-SUCH/installed-certificates/delete",
     {"certificate_type": "CSMSRootCertificate"}, OFFICER),
    # Rotations (api/rest/routers/rotations.py): server certificate and CSMS root are CA-level;
    # station certificates a station operation (`all` is officer only). Dry runs change nothing.
    ("POST", "/api/v1/rotations/station-certificates", {"dry_run": True, "expiring_within_days": 30}, STATION_OPS),
    ("POST", "/api/v1/rotations/server-certificate", {"dry_run": True}, OFFICER),
    ("POST", "/api/v1/rotations/csms-root", {"dry_run": True}, OFFICER),
    ("GET", "/api/v1/rotations/csms-root", None, ALL),
    # Station certificate renewals over OCPP (api/rest/routers/station_certificates.py): the whole
    # fleet at once is an officer's decision.
    ("POST", "/api/v1/stations/NO-SUCH/certificate-renewal", {}, STATION_OPS),
    ("POST", "/api/v1/certificate-renewals", {"expiring_within_days": 30}, STATION_OPS),
    ("POST", "/api/v1/certificate-renewals", {"all": True}, OFFICER),
    # Blocks F-I (remote_control, availability, reservations, tariffs routers): sending is a station
    # operation, reading is everyone's, tariffs are set by officers.
    ("POST", "/api/v1/stations/NO-SUCH/remote-starts", {"id_token": {"id_token": "T", "type": "Central"}},
     STATION_OPS),
    ("GET", "/api/v1/stations/NO-SUCH/remote-starts", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/connectors", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/connectors/history", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/availability-changes", None, ALL),
    # Block B (provisioning router): what stations reported and what was sent, read by every role.
    ("GET", "/api/v1/stations/NO-SUCH/device-model", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/device-reports", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/resets", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/network-profiles", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/onboarding", None, ALL),
    ("POST", "/api/v1/stations/NO-SUCH/reservations",
     {"expiry_date_time": "2030-01-01T00:00:00Z", "id_token": {"id_token": "T", "type": "Central"}}, STATION_OPS),
    ("GET", "/api/v1/stations/NO-SUCH/reservations", None, ALL),
    ("DELETE", "/api/v1/stations/NO-SUCH/reservations/1", None, STATION_OPS),
    ("GET", "/api/v1/tariffs", None, ALL),
    ("GET", "/api/v1/tariffs/default", None, ALL),
    ("PUT", "/api/v1/tariffs/default", {"currency": "EUR"}, OFFICER),
    ("DELETE", "/api/v1/tariffs/default", None, OFFICER),
    ("GET", "/api/v1/stations/NO-SUCH/tariff", None, ALL),
    ("PUT", "/api/v1/stations/NO-SUCH/tariff", {"currency": "EUR"}, OFFICER),
    ("DELETE", "/api/v1/stations/NO-SUCH/tariff", None, OFFICER),
    # Blocks N, O (customer_information, monitoring, display routers): customer data is personal
    # data (sending an officer's, reading an officer's or an auditor's); the rest is read by all.
    ("POST", "/api/v1/stations/NO-SUCH/customer-information",
     {"report": True, "clear": False, "customer_identifier": "C-1"}, OFFICER),
    ("GET", "/api/v1/stations/NO-SUCH/customer-information", None, OVERSIGHT),
    ("GET", "/api/v1/stations/NO-SUCH/customer-information/1", None, OVERSIGHT),
    ("GET", "/api/v1/stations/NO-SUCH/monitors", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/monitoring", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/events", None, ALL),
    ("GET", "/api/v1/events", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/display-messages", None, ALL),
    # Id tokens and local lists (C, D): reading is everyone's, changing them a station operation.
    ("GET", "/api/v1/id-tokens", None, ALL),
    ("POST", "/api/v1/id-tokens", lambda: {"id_token": f"M-{next(_unique)}", "type": "ISO14443"}, STATION_OPS),
    ("GET", "/api/v1/id-tokens/999999", None, ALL),
    ("PATCH", "/api/v1/id-tokens/999999", {"status": "Blocked"}, STATION_OPS),
    ("DELETE", "/api/v1/id-tokens/999999", None, STATION_OPS),
    ("GET", "/api/v1/id-tokens/export", None, ALL),
    ("POST", "/api/v1/id-tokens/import", lambda: [{"id_token": f"M-{next(_unique)}", "type": "ISO14443"}],
     STATION_OPS),
    ("GET", "/api/v1/id-tokens/master-pass-groups", None, ALL),
    ("PUT", "/api/v1/id-tokens/master-pass-groups", {"group_id_token": None, "station_id": "NO-SUCH"},
     STATION_OPS),
    ("GET", "/api/v1/stations/NO-SUCH/local-list", None, ALL),
    ("POST", "/api/v1/stations/NO-SUCH/local-list", {"dry_run": True}, STATION_OPS),
    ("POST", "/api/v1/stations/NO-SUCH/local-list/version", None, STATION_OPS),
    # Transactions and meter values (E, J): read-only, everyone's.
    ("GET", "/api/v1/transactions", None, ALL),
    ("GET", "/api/v1/transactions/NO-SUCH/T-1", None, ALL),
    ("GET", "/api/v1/meter-values", None, ALL),
    # Logs (N01): asking for one is a station operation; requests and files are everyone's to read.
    ("POST", "/api/v1/stations/NO-SUCH/logs", {"log_type": "DiagnosticsLog"}, STATION_OPS),
    ("GET", "/api/v1/stations/NO-SUCH/logs", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/logs/1", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/logs/1/file", None, ALL),
    # Firmware (L): reading is everyone's; the registry, sending firmware and campaigns an officer's.
    ("GET", "/api/v1/firmware/roots", None, ALL),
    ("POST", "/api/v1/firmware/roots", {"certificate": "not a pem"}, OFFICER),
    ("GET", "/api/v1/firmware/signer", None, ALL),
    ("POST", "/api/v1/firmware/signer", None, OFFICER),
    ("GET", "/api/v1/firmware/images", None, ALL),
    ("POST", "/api/v1/firmware/images", "not signed", OFFICER),
    ("GET", "/api/v1/firmware/images/999999", None, ALL),
    ("POST", "/api/v1/firmware/revocations", {"certificate": "not a pem"}, OFFICER),
    ("POST", "/api/v1/stations/NO-SUCH/firmware-updates", {"image_id": 999999}, OFFICER),
    ("GET", "/api/v1/stations/NO-SUCH/firmware-updates", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/firmware-statuses", None, ALL),
    ("GET", "/api/v1/stations/NO-SUCH/publish-firmware-statuses", None, ALL),
    ("GET", "/api/v1/firmware/campaigns", None, ALL),
    ("POST", "/api/v1/firmware/campaigns", {"image_id": 999999, "dry_run": True}, OFFICER),
    ("GET", "/api/v1/firmware/campaigns/999999", None, ALL),
    ("POST", "/api/v1/firmware/campaigns/999999/stop", None, OFFICER),
    ("POST", "/api/v1/firmware/campaigns/999999/resume", None, OFFICER),
    # Prometheus metrics (api/rest/routers/metrics.py): aggregate figures, no station named.
    ("GET", "/metrics", None, ALL),
]
PUBLIC = {("GET", "/crl/{ca_id}.crl"), ("POST", "/ocsp"), ("GET", "/ocsp/{encoded}")}


def _call(client: TestClient, method: str, path: str, body, headers: dict | None = None):
    payload = body() if callable(body) else body
    return client.request(method, path, json=payload, headers=headers or {})


ROUTE_FIRST = {("POST", "/api/v1/certificate-renewals"): STATION_OPS}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, *_ in MATRIX])
def test_role_matrix(shared_api, role, method, path, body, allowed):
    answer = _call(shared_api.client, method, path, body, shared_api.headers(role))
    if role in allowed:
        assert answer.status_code not in (401, 403), answer.text
    else:
        assert answer.status_code == 403, answer.text
        error = answer.json()
        # A route whose body can narrow its roles (certificate renewals with `all`) refuses a role
        # it never takes before reading the body, naming the route's own roles.
        route_roles = ROUTE_FIRST.get((method, path), allowed)
        expected = route_roles if role not in route_roles else allowed
        assert error["required_roles"] == sorted(expected, key=ROLES.index)
        assert role in error["error"] and all(r in error["error"] for r in expected)


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, *_ in MATRIX])
def test_every_protected_route_needs_a_token(shared_api, method, path, body, allowed):
    answer = _call(shared_api.client, method, path, body)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "missing API token" in answer.json()["error"]


def test_matrix_covers_every_route(shared_api):
    """A route added without deciding who may call it fails here."""
    documented = {(method.upper(), path) for path, operations in shared_api.client.get("/openapi.json")
                  .json()["paths"].items() for method in operations}

    def template(method: str, path: str) -> tuple[str, str]:
        """The documented route a concrete matrix path is an instance of (most specific first)."""
        candidates = [t for m, t in documented if m == method
                      and re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(t)), path)]
        return method, min(candidates, key=lambda t: t.count("{"), default=path)

    covered = {template(method, path) for method, path, *_ in MATRIX}
    assert documented == covered | PUBLIC


def _wrong_secret(api) -> str:
    return f"cca_{api.token_id('officer')}_{'x' * 43}"


@pytest.mark.parametrize("authorization", [
    "Basic dXNlcjpwYXNzd29yZA==",
    "Bearer not-a-chargeca-token",
    "Bearer cca_0123456789abcdef_" + "s" * 43,
    "wrong-secret",
])
def test_bad_tokens_are_401(sqlite_api, authorization):
    if authorization == "wrong-secret":
        authorization = f"Bearer {_wrong_secret(sqlite_api)}"
    answer = sqlite_api.client.get("/api/v1/stations", headers={"Authorization": authorization})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["error"]


def test_a_verified_token_skips_argon2_until_the_cache_entry_expires(sqlite_api, monkeypatch):
    calls = []
    real_verify = auth.verify_secret
    monkeypatch.setattr(auth, "verify_secret", lambda *a: calls.append(1) or real_verify(*a))
    now = [1000.0]
    sqlite_api.client.app.state.verified_tokens = VerifiedTokens(60, clock=lambda: now[0])

    for _ in range(3):
        assert sqlite_api.client.get("/api/v1/stations", headers=sqlite_api.headers("auditor")).status_code == 200
    assert len(calls) == 1

    now[0] += 61
    assert sqlite_api.client.get("/api/v1/stations", headers=sqlite_api.headers("auditor")).status_code == 200
    assert len(calls) == 2


def test_a_cached_token_does_not_let_a_guessed_secret_in(sqlite_api):
    assert sqlite_api.client.get("/api/v1/policy", headers=sqlite_api.headers("officer")).status_code == 200
    guessed = {"Authorization": f"Bearer {_wrong_secret(sqlite_api)}"}
    for _ in range(2):
        assert sqlite_api.client.get("/api/v1/policy", headers=guessed).status_code == 401


def test_the_cache_holds_digests_not_tokens():
    cache = VerifiedTokens(60)
    cache.remember("cca_abcdef0123456789_secret")
    assert cache.recently_verified("cca_abcdef0123456789_secret")
    assert not cache.recently_verified("cca_abcdef0123456789_other")
    assert all(isinstance(key, bytes) and len(key) == 32 for key in cache._expiry)


def test_the_cache_stays_bounded():
    cache = VerifiedTokens(60, max_entries=3)
    for n in range(10):
        cache.remember(f"token-{n}")
    assert len(cache._expiry) == 3
    assert cache.recently_verified("token-9") and not cache.recently_verified("token-0")


def test_a_revoked_token_stops_working_on_every_node_although_cached(sqlite_api):
    token = new_token(sqlite_api.ctx, "auditor")
    headers = {"Authorization": f"Bearer {token}"}
    token_id = token.split("_")[1]
    with TestClient(create_app(sqlite_api.ctx)) as other_node:
        # Both "nodes" have verified the token and cached it.
        assert sqlite_api.client.get("/api/v1/audit", headers=headers).status_code == 200
        assert other_node.get("/api/v1/audit", headers=headers).status_code == 200

        revoked = sqlite_api.client.delete(f"/api/v1/tokens/{token_id}", headers=sqlite_api.headers("officer"))
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]

        for client in (sqlite_api.client, other_node):
            answer = client.get("/api/v1/audit", headers=headers)
            assert answer.status_code == 401
            assert answer.json()["error"] == "unknown or revoked API token"


def test_a_refused_change_is_audited_and_a_refused_read_is_not(sqlite_api):
    denied = sqlite_api.client.post("/api/v1/certificates/abc123/revoke", json={"reason": "superseded"},
                                    headers=sqlite_api.headers("auditor"))
    assert denied.status_code == 403
    assert sqlite_api.client.get("/api/v1/audit", headers=sqlite_api.headers("operator")).status_code == 403
    entries = sqlite_api.audit("api.denied")
    assert [(e.actor, e.target, e.outcome) for e in entries] == [
        (sqlite_api.actor("auditor"), "POST /api/v1/certificates/abc123/revoke", "refused")]


def test_an_auditor_asking_for_renewals_is_refused_and_audited_whatever_the_body(sqlite_api):
    """The route took any role and decided inside: a malformed body got the auditor a 422 and
    no audit entry."""
    denied = sqlite_api.client.post("/api/v1/certificate-renewals", json={"expiring_within_days": "soon"},
                                    headers=sqlite_api.headers("auditor"))
    assert denied.status_code == 403 and denied.json()["required_roles"] == ["officer", "operator"]
    assert [e.target for e in sqlite_api.audit("api.denied")] == ["POST /api/v1/certificate-renewals"]


def test_an_invalid_station_id_is_refused_and_audited(sqlite_api):
    answer = sqlite_api.client.post("/api/v1/stations", json={"id": "bad:id"}, headers=sqlite_api.headers("operator"))
    assert answer.status_code == 422 and answer.json()["rule"] == "station.id"
    assert [e.outcome for e in sqlite_api.audit("station.add", "bad:id")] == ["refused"]
