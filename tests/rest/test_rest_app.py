"""The application as a whole: OpenAPI contract, error shape, database loss, uvicorn."""

from __future__ import annotations

import gc
import socket
import threading
import time
import weakref
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from conftest import PG_URL, make_pki, require_postgres
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient
from rest_support import open_api, sqlite_api  # noqa: F401 - fixtures

import api.rest.routers.stations as stations_router
from api.rest.app import create_app

ROUTES = {
    ("POST", "/api/v1/stations"), ("GET", "/api/v1/stations"), ("GET", "/api/v1/stations/{station_id}"),
    ("POST", "/api/v1/stations/{station_id}/certificates"),
    ("GET", "/api/v1/certificates"), ("GET", "/api/v1/certificates/{serial}"),
    ("POST", "/api/v1/certificates/{serial}/revoke"),
    ("GET", "/api/v1/ca"), ("GET", "/api/v1/ca/root.pem"), ("POST", "/api/v1/ca/v2g"),
    ("GET", "/crl/{ca_id}.crl"), ("POST", "/ocsp"), ("GET", "/ocsp/{encoded}"),
    ("GET", "/api/v1/audit"), ("GET", "/api/v1/audit/verify"),
    ("POST", "/api/v1/tokens"), ("GET", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/{token_id}"),
    ("GET", "/api/v1/policy"), ("GET", "/api/v1/security-events"),
}
PUBLIC = {"/crl/{ca_id}.crl", "/ocsp", "/ocsp/{encoded}"}


def test_openapi_lists_the_routes_documented_and_secured(sqlite_api):
    document = sqlite_api.client.get("/openapi.json").json()
    operations = {(method.upper(), path): operation for path, methods in document["paths"].items()
                  for method, operation in methods.items()}
    assert ROUTES <= set(operations)  # station operations (other routers) come on top
    for (method, path), operation in operations.items():
        assert operation.get("description"), f"{method} {path} has no description"
        secured = bool(operation.get("security"))
        assert secured == (path not in PUBLIC), f"{method} {path}"
        if secured:
            assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"
    assert document["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"
    docs = sqlite_api.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_errors_are_json_with_the_field_named(sqlite_api):
    headers = {**sqlite_api.headers("officer"), "Content-Type": "application/json"}
    broken = sqlite_api.client.post("/api/v1/stations", content=b'{"id": ', headers=headers)
    assert broken.status_code == 422
    assert broken.json()["field"].startswith("body") and "JSON" in broken.json()["error"]

    not_json = sqlite_api.client.post("/api/v1/stations", content=b"id=CS-1",
                                      headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status_code == 415 and "application/json" in not_json.json()["error"]

    nowhere = sqlite_api.client.get("/api/v1/nowhere", headers=headers)
    assert nowhere.status_code == 404 and nowhere.json() == {"error": "Not Found"}
    wrong_method = sqlite_api.client.put("/api/v1/policy", headers=headers)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]


def test_validation_errors_never_echo_the_input(sqlite_api):
    secret = "Pa55word-that-must-not-leak"
    answer = sqlite_api.client.post("/api/v1/stations", json={"id": secret, "security_profile": "three",
                                                              "password": 42}, headers=sqlite_api.headers("officer"))
    assert answer.status_code == 422 and secret not in answer.text
    assert {p["field"] for p in answer.json()["problems"]} == {"body.security_profile", "body.password"}


@pytest.mark.parametrize("error", [RuntimeError("boom with secret-ish detail"), KeyError("a bug")])
def test_unexpected_errors_are_500_json_without_details(sqlite_api, monkeypatch, error):
    def fail(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(stations_router, "run_in_session", fail)
    with TestClient(create_app(sqlite_api.ctx), raise_server_exceptions=False) as client:
        answer = client.get("/api/v1/stations", headers=sqlite_api.headers("auditor"))
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error; the server log has the details"}


def test_policy_is_the_effective_policy(sqlite_api):
    policy = sqlite_api.client.get("/api/v1/policy", headers=sqlite_api.headers("operator")).json()
    expected = sqlite_api.ctx.policy
    assert policy["tls"]["min_version"] == expected.tls.min_version == "TLSv1.2"
    assert policy["tls"]["tls12_ciphers"] == list(expected.tls.tls12_ciphers)
    assert "AES128-GCM-SHA256" in policy["tls"]["tls12_ciphers"]
    assert policy["csr"]["max_chars"] == expected.csr.max_chars
    assert policy["validity"]["station_days"] == expected.validity.station_days


def test_authorities_with_certificates_and_the_root_pem(sqlite_api):
    hierarchy = sqlite_api.pki.hierarchy
    authorities = sqlite_api.client.get("/api/v1/ca", headers=sqlite_api.headers("auditor")).json()
    by_role = {a["role"]: a for a in authorities}
    assert set(by_role) == {"root", "station", "server"}
    assert by_role["root"]["parent_id"] is None
    assert by_role["station"]["parent_id"] == by_role["root"]["id"] == hierarchy.root.id
    assert by_role["station"]["certificate_pem"] == hierarchy.station_ca.record.certificate_pem
    assert by_role["station"]["crl_url"] == f"http://ca.test:8080/crl/{hierarchy.station_ca.id}.crl"
    assert by_role["station"]["not_after"] <= by_role["root"]["not_after"]

    root = sqlite_api.client.get("/api/v1/ca/root.pem", headers=sqlite_api.headers("operator"))
    assert root.status_code == 200 and root.headers["content-type"] == "application/x-pem-file"
    assert root.text == hierarchy.root.record.certificate_pem


# --- the database goes away and comes back -------------------------------------------------

class PostgresOutage:
    def __init__(self, url: str) -> None:
        self.name = url.rsplit("/", 1)[1]

    def _admin(self, *statements: tuple[str, tuple]) -> None:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as admin:
            for sql, params in statements:
                admin.execute(sql, params)

    def begin(self) -> None:
        # Refuse new connections, then cut the open ones: what a failover or a crash looks like.
        self._admin((f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false', ()),
                    ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (self.name,)))

    def end(self) -> None:
        self._admin((f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true', ()))


class SqliteOutage:
    """The volume holding the database file disappears (unmounted, moved)."""

    def __init__(self, directory: Path, engine) -> None:
        self.directory, self.away, self.engine = directory, directory.with_name("db-away"), engine

    def begin(self) -> None:
        self.engine.dispose()  # open SQLite handles would keep reading the moved file
        self.directory.rename(self.away)

    def end(self) -> None:
        self.away.rename(self.directory)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def outage_pki(request, tmp_path, monkeypatch):
    if request.param == "postgres":
        require_postgres()
        url = request.getfixturevalue("postgres_url")
        pki = make_pki(tmp_path, url, monkeypatch)
        outage = PostgresOutage(url)
    else:
        (tmp_path / "db").mkdir()
        pki = make_pki(tmp_path, f"sqlite:///{tmp_path / 'db' / 'chargeca.db'}", monkeypatch)
        outage = SqliteOutage(tmp_path / "db", pki.ctx.engine)
    yield pki, outage
    outage.end() if request.param == "postgres" else None
    pki.ctx.engine.dispose()


def test_database_loss_is_503_json_and_nothing_accepted_is_lost(outage_pki):
    pki, outage = outage_pki
    with open_api(pki) as api:
        created = api.register_station("CS-0400")
        password = created["password"]
        officer = api.headers("officer")

        outage.begin()
        try:
            answers = [
                api.client.get("/api/v1/stations/CS-0400", headers=officer),
                api.client.post("/api/v1/stations", json={"id": "CS-0401"}, headers=officer),
                api.client.get(f"/crl/{pki.hierarchy.station_ca.id}.crl"),
            ]
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"].startswith("database unavailable")
                assert "127.0.0.1" not in answer.text and "chargeca_t_" not in answer.text
                assert answer.headers["Retry-After"]
            assert password not in "".join(a.text for a in answers)
            ocsp_answer = api.client.post("/ocsp", content=b"\x30\x00",
                                          headers={"Content-Type": "application/ocsp-request"})
            assert ocsp_answer.status_code == 503
            assert ocsp.load_der_ocsp_response(ocsp_answer.content).response_status \
                == ocsp.OCSPResponseStatus.TRY_LATER
        finally:
            outage.end()

        station = api.client.get("/api/v1/stations/CS-0400", headers=officer)
        assert station.status_code == 200 and station.json()["has_password"] is True
        assert api.client.get("/api/v1/stations/CS-0401", headers=officer).status_code == 404
        assert api.client.post("/api/v1/stations", json={"id": "CS-0401"}, headers=officer).status_code == 201
        assert [e.outcome for e in api.audit("station.add", "CS-0400")] == ["success"]
        report = api.client.get("/api/v1/audit/verify", headers=officer).json()
        assert report["ok"] is True


# --- a real server ---------------------------------------------------------------------------

def test_the_app_serves_real_http_under_uvicorn(sqlite_api):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(sqlite_api.ctx), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert "/api/v1/stations" in http.get("/openapi.json").json()["paths"]
            authorities = http.get("/api/v1/ca", headers=sqlite_api.headers("auditor"))
            assert authorities.status_code == 200 and len(authorities.json()) == 3
            anonymous = http.get("/api/v1/ca")
            assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
            crl = http.get(f"/crl/{sqlite_api.pki.hierarchy.station_ca.id}.crl")
            assert crl.status_code == 200 and crl.headers["content-type"] == "application/pkix-crl"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def test_an_application_and_its_context_are_freed_once_dropped(tmp_path, monkeypatch):
    """Tests build an application per test and a process may build several: what FastAPI caches
    across applications (its endpoints' classification) must not hold a dropped application's
    context, its database engine and its keys."""
    pki = make_pki(tmp_path, f"sqlite:///{tmp_path / 'chargeca.db'}", monkeypatch)
    with TestClient(create_app(pki.ctx)) as client:
        for page, status in (("/docs", 200), ("/redoc", 200), ("/openapi.json", 200), ("/api/v1/policy", 401)):
            assert client.get(page).status_code == status, page
    gone = weakref.ref(pki.ctx)
    pki.ctx.engine.dispose()
    del pki, client
    gc.collect()
    assert gone() is None
