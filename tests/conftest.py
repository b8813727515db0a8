"""Shared fixtures: real databases (SQLite file and PostgreSQL) and a real PKI per test.

PostgreSQL: CHARGECA_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/test. Each
test gets a database of its own, created from that server and dropped afterwards. Without a
server the PostgreSQL variants skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

import pki_fixtures as fx
from api.core.context import Context, open_context
from api.core.settings import load_settings
from pki.authorities import Hierarchy, init_pki
from pki.keystore import EncryptedFileKeyStore
from pki.pkcs11_keystore import Pkcs11KeyStore, Pkcs11Settings
from softhsm import new_token
from storage.db import make_engine, migrate, session_scope

PG_URL = os.environ.get("CHARGECA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_PASSPHRASE = "test-passphrase-0123456789"
TEST_ORG = "Test CSO"
TEST_FQDN = "csms.test"


def _pg_admin():
    import psycopg

    return psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)


def _pg_unavailable_reason() -> str | None:
    try:
        with _pg_admin():
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        return f"PostgreSQL not reachable at {PG_URL}: {str(exc).strip().splitlines()[0]}"


_PG_REASON: list[str | None] = []


def require_postgres() -> None:
    if not _PG_REASON:
        _PG_REASON.append(_pg_unavailable_reason())
    reason = _PG_REASON[0]
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    require_postgres()
    name = f"chargeca_t_{secrets.token_hex(6)}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path: Path) -> Iterator[str]:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'chargeca.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def passphrase_env(monkeypatch) -> str:
    monkeypatch.setenv("CHARGECA_KEY_PASSPHRASE", TEST_PASSPHRASE)
    monkeypatch.delenv("CHARGECA_KEY_PASSPHRASE_FILE", raising=False)
    return TEST_PASSPHRASE


# The CA-engine tests run on both key backends: their modules override ``keystore_kind`` with
# ``params=KEYSTORES``; every other test keeps the file backend.
KEYSTORES = ["file", "pkcs11"]


@pytest.fixture
def keystore_kind() -> str:
    return "file"


def both_keystores():
    """In a CA-engine test module, ``keystore_kind = both_keystores()`` runs every test there that
    uses a key store (``pki``, ``sqlite_pki``, ``keystore``, ``ca_hierarchy``) on both backends."""

    @pytest.fixture(params=KEYSTORES, name="keystore_kind")
    def kind(request) -> str:
        return request.param

    return kind


@pytest.fixture
def softhsm_token(tmp_path: Path, monkeypatch) -> Pkcs11Settings:
    """A fresh SoftHSM2 token of this test's own."""
    return new_token(tmp_path, monkeypatch)


@pytest.fixture
def token(keystore_kind: str, request) -> Pkcs11Settings | None:
    """A fresh SoftHSM2 token when ``keystore_kind`` is pkcs11, else None."""
    return request.getfixturevalue("softhsm_token") if keystore_kind == "pkcs11" else None


@pytest.fixture
def keystore(token: Pkcs11Settings | None, tmp_path: Path):
    """A key store of the kind ``keystore_kind`` names, empty."""
    files = EncryptedFileKeyStore(tmp_path / "keys", TEST_PASSPHRASE.encode())
    return Pkcs11KeyStore(token, files) if token else files


@pytest.fixture
def ca_hierarchy(keystore_kind: str, request):
    """``pki_fixtures.hierarchy(kind)``, with its CA keys in a token when ``keystore_kind`` is pkcs11."""
    if keystore_kind == "file":
        return fx.hierarchy
    made: dict[str, fx.Hierarchy] = {}
    store = request.getfixturevalue("keystore")

    def in_token(kind: str) -> fx.Hierarchy:
        if kind not in made:
            made[kind] = fx.hierarchy_in(kind, store)
        return made[kind]

    return in_token


@dataclass
class Pki:
    ctx: Context
    hierarchy: Hierarchy


def make_context(tmp_path: Path, db_url: str, monkeypatch, public_url: str | None = "http://ca.test:8080",
                 token: Pkcs11Settings | None = None) -> Context:
    """A service context on a migrated database, with no PKI in it yet."""
    monkeypatch.setenv("CHARGECA_KEY_PASSPHRASE", TEST_PASSPHRASE)
    monkeypatch.setenv("CHARGECA_DATABASE_URL", db_url)
    if public_url:
        monkeypatch.setenv("CHARGECA_PUBLIC_URL", public_url)
    else:
        monkeypatch.delenv("CHARGECA_PUBLIC_URL", raising=False)
    settings = load_settings(tmp_path / "data").with_overrides(pkcs11=token)
    return open_context(settings)


def make_pki(tmp_path: Path, db_url: str, monkeypatch, public_url: str | None = "http://ca.test:8080",
             token: Pkcs11Settings | None = None) -> Pki:
    ctx = make_context(tmp_path, db_url, monkeypatch, public_url, token)
    with session_scope(ctx.engine) as session:
        hierarchy = init_pki(session, ctx.keystore, organization=TEST_ORG, fqdn=TEST_FQDN,
                             policy=ctx.policy, urls=ctx.urls)
    return Pki(ctx, hierarchy)


@pytest.fixture
def pki(tmp_path: Path, db_url: str, monkeypatch, token) -> Iterator[Pki]:
    """A freshly initialised PKI on each database backend (CA keys in a token for pkcs11)."""
    made = make_pki(tmp_path, db_url, monkeypatch, token=token)
    yield made
    made.ctx.engine.dispose()


@pytest.fixture
def sqlite_pki(tmp_path: Path, monkeypatch, token) -> Iterator[Pki]:
    """A freshly initialised PKI on SQLite only, for tests about something other than storage."""
    made = make_pki(tmp_path, f"sqlite:///{tmp_path / 'chargeca.db'}", monkeypatch, token=token)
    yield made
    made.ctx.engine.dispose()


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch) -> Iterator[Context]:
    """A service context on a migrated SQLite database without a PKI: for code that needs the
    database and the policy but no CA (most OCPP handlers)."""
    made = make_context(tmp_path, f"sqlite:///{tmp_path / 'chargeca.db'}", monkeypatch)
    yield made
    made.engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated, empty database on each backend, without a PKI (storage-level tests)."""
    migrate(db_url)
    made = make_engine(db_url)
    yield made
    made.dispose()


# RSA keys made once per worker: generating the servers' RSA-3072 key is most of a test PKI's
# set-up (0.5-1 s of a ~2 s init). Each test draws them in order from the start, so within a
# test every key is new and distinct; across tests, which share nothing else, keys repeat.
_RSA_POOL: dict[str, list] = {}


@pytest.fixture(autouse=True)
def _rsa_keys_from_a_pool(monkeypatch) -> None:
    import pki.keystore

    generate = pki.keystore.generate_private_key
    drawn: dict[str, int] = {}

    def pooled(spec: str):
        if not spec.startswith("rsa-"):
            return generate(spec)
        pool = _RSA_POOL.setdefault(spec, [])
        index = drawn[spec] = drawn.get(spec, -1) + 1
        if index == len(pool):
            pool.append(generate(spec))
        return pool[index]

    monkeypatch.setattr(pki.keystore, "generate_private_key", pooled)
