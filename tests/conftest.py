"""Shared fixtures: real databases (SQLite file and PostgreSQL) and a real PKI per test.

PostgreSQL: CHARGECA_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/test. Each
test gets a database of its own, created from that server and dropped afterwards. Without a
server the PostgreSQL variants skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import sys

# Bytecode, where the environment turns it off (PYTHONDONTWRITEBYTECODE, as on this machine): then
# every process of the suite compiled our modules from source and pytest rewrote every test
# module's asserts, each time (collection alone 15 s of CPU per worker, 9 s cached). It goes to
# .pytest_cache/pycache, outside the source tree, for this run and every process it starts.
if sys.dont_write_bytecode:
    _PYCACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache", "pycache")
    sys.dont_write_bytecode, sys.pycache_prefix = False, _PYCACHE
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = _PYCACHE

import shutil  # noqa: E402 - after the bytecode settings, which every import below uses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pki_fixtures as fx
import pytest
from argon2 import PasswordHasher
from migrated_template import migrate_for_test, sqlite_file
from pg_databases import PG_URL, DatabasePool, admin_connection, url_of
from softhsm import new_token
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import select

import storage.db as storage_db
from api.core import credentials
from api.core.context import Context, open_context
from api.core.settings import load_settings
from pki import keystore as key_files
from pki.authorities import Hierarchy, active_authority, init_pki
from pki.keystore import EncryptedFileKeyStore
from pki.pkcs11_keystore import Pkcs11KeyStore, Pkcs11Settings
from storage.certificates import CaRole, CertKind, CertStatus, IssuedCertificate
from storage.db import make_engine, session_scope

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_PASSPHRASE = "test-passphrase-0123456789"
TEST_ORG = "Test CSO"
TEST_FQDN = "csms.test"


def _pg_unavailable_reason() -> str | None:
    try:
        with admin_connection():
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


# This worker's PostgreSQL databases (tests/support/pg_databases.py): copies of one migrated
# template, each emptied after its test and given to the next.
_PG_DATABASES = DatabasePool()


@pytest.fixture(scope="session", autouse=True)
def _json_codec() -> None:
    """CHARGECA_JSON_CODEC=msgspec runs the tests on the fast OCPP-J codec, as `chargeca serve` would
    (api/ocpp/json_codec.py); unset, on the standard library's."""
    from api.ocpp import json_codec

    json_codec.use(os.environ.get("CHARGECA_JSON_CODEC") or json_codec.STDLIB)


if os.environ.get("CHARGECA_EVENT_LOOP") == "uvloop":
    def pytest_asyncio_loop_factories(config, item):
        """CHARGECA_EVENT_LOOP=uvloop runs the asynchronous tests on uvloop, as `chargeca serve` would."""
        import uvloop

        return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_databases() -> Iterator[None]:
    yield
    _PG_DATABASES.close()


# SQL compiled once per worker, not once per test. SQLAlchemy caches a statement's compiled form per
# engine (the key holds the dialect object), and every test has engines of its own: compiling the
# same statements again was a fifth of the CPU of the OCPP conformance tests (py-spy). Engines of
# one kind of database share the first one's dialect and cache; what runs on the database does not
# change, nor the connections, pools, events and transactions, which stay each engine's own.
_SHARED_COMPILATION: dict[tuple[str, str], tuple] = {}


def _compiling_once(create_engine):
    def create(url, **kwargs):
        engine = create_engine(url, **kwargs)
        shared = _SHARED_COMPILATION.setdefault((engine.dialect.name, engine.dialect.driver),
                                                (engine.dialect, engine._compiled_cache))
        engine.dialect, engine._compiled_cache = shared
        engine.pool._dialect = shared[0]
        event.listen(engine, "engine_connect", _initialise_shared_dialect)
        return engine
    return create


def _initialise_shared_dialect(connection) -> None:  # noqa: ANN001
    """create_engine initialises, on an engine's first connection, the dialect it made: only the
    engine that made the shared one initialises that one, and it may never connect (an engine
    made and disposed unused). Then the shared dialect knows no server version, and reflection
    (alembic's comparison of the models with the database) failed on SQLite, depending on which
    tests a worker had run before."""
    if connection.dialect.server_version_info is None:
        connection.dialect.initialize(connection)


storage_db.create_engine = _compiling_once(storage_db.create_engine)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database for one test, migrated to the head revision and empty, as a copy of
    this worker's template is (running the migrations again is a no-op, as at every start)."""
    require_postgres()
    name = _PG_DATABASES.take()
    try:
        yield url_of(name)
    finally:
        _PG_DATABASES.give_back(name)


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
    migrate_for_test(db_url)
    return open_context(settings, run_migrations=False)   # just done


def make_pki(tmp_path: Path, db_url: str, monkeypatch, public_url: str | None = "http://ca.test:8080",
             token: Pkcs11Settings | None = None) -> Pki:
    """A PKI as ``chargeca init`` makes it. On SQLite with file keys it is a copy of one this
    worker made (the database file and the key files), which costs a few milliseconds instead of
    a few hundred: tests share nothing else, as with the RSA key pool below."""
    if token is None and sqlite_file(db_url) is not None:
        return _copy_of_snapshot(tmp_path, db_url, monkeypatch, public_url)
    return _init_pki(tmp_path, db_url, monkeypatch, public_url, token)


def _init_pki(tmp_path: Path, db_url: str, monkeypatch, public_url: str | None,
              token: Pkcs11Settings | None) -> Pki:
    ctx = make_context(tmp_path, db_url, monkeypatch, public_url, token)
    with session_scope(ctx.engine) as session:
        hierarchy = init_pki(session, ctx.keystore, organization=TEST_ORG, fqdn=TEST_FQDN,
                             policy=ctx.policy, urls=ctx.urls)
    return Pki(ctx, hierarchy)


@dataclass(frozen=True)
class _Snapshot:
    directory: Path           # chargeca.db and data/keys as init_pki left them
    keys_drawn: dict[str, int]  # how far init_pki drew in the RSA key pool


_SNAPSHOTS: dict[str | None, _Snapshot] = {}
_SNAPSHOT_ROOT: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _snapshot_root(tmp_path_factory) -> None:
    _SNAPSHOT_ROOT.append(tmp_path_factory.mktemp("pki-snapshots"))


def _snapshot(public_url: str | None) -> _Snapshot:
    if public_url not in _SNAPSHOTS:
        directory = _SNAPSHOT_ROOT[-1] / f"pki-{len(_SNAPSHOTS)}"
        directory.mkdir()
        drawn_before = dict(_RSA_DRAWN)
        _RSA_DRAWN.clear()
        with pytest.MonkeyPatch.context() as monkeypatch:
            made = _init_pki(directory, f"sqlite:///{directory / 'chargeca.db'}", monkeypatch, public_url, None)
            made.ctx.engine.dispose()  # checkpoints SQLite's WAL into the file
        _SNAPSHOTS[public_url] = _Snapshot(directory, dict(_RSA_DRAWN))
        _RSA_DRAWN.clear()
        _RSA_DRAWN.update(drawn_before)
    return _SNAPSHOTS[public_url]


def _copy_of_snapshot(tmp_path: Path, db_url: str, monkeypatch, public_url: str | None) -> Pki:
    snapshot = _snapshot(public_url)
    database = sqlite_file(db_url)
    database.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(snapshot.directory / "chargeca.db", database)
    keys = tmp_path / "data" / "keys"
    keys.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(snapshot.directory / "data" / "keys", keys, dirs_exist_ok=True)
    # Keys drawn from the pool from now on must differ from the snapshot's CA and server keys.
    for spec, index in snapshot.keys_drawn.items():
        _RSA_DRAWN[spec] = max(_RSA_DRAWN.get(spec, -1), index)
    ctx = make_context(tmp_path, db_url, monkeypatch, public_url)
    with session_scope(ctx.engine) as session:
        hierarchy = Hierarchy(active_authority(session, CaRole.ROOT), active_authority(session, CaRole.STATION),
                              active_authority(session, CaRole.SERVER),
                              list(session.exec(select(IssuedCertificate).where(
                                  IssuedCertificate.kind == CertKind.SERVER,
                                  IssuedCertificate.status == CertStatus.ACTIVE).order_by(IssuedCertificate.id))))
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
    migrate_for_test(db_url)
    made = make_engine(db_url)
    yield made
    made.dispose()


# argon2 at test-cheap parameters (t=1, m=8 KiB: well under a millisecond a hash, against 10 ms and
# more at the production t=2, m=19 MiB; the hashes of the tokens and station passwords that tests
# make were an eighth of the time of tests/rest and the security conformance cases). What a test
# proves of hashing does not depend on the cost: the hash is still argon2id, salted, verified.
# The production parameters stay in api/core/credentials.py; tests marked ``production_argon2``
# run with them and check them, as does every `chargeca` a test starts in a process of its own.
@pytest.fixture(autouse=True)
def _cheap_argon2(request, monkeypatch) -> None:
    if request.node.get_closest_marker("production_argon2") is None:
        monkeypatch.setattr(credentials, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


# Key files at a test-cheap PBKDF2 count, for the same reason: the wss listener's TLS context loads
# two encrypted server keys each time a test starts a CSMS, and each CA key is decrypted once per
# test; at 200,000 rounds that was 18 % of the CPU of the security and provisioning tests (py-spy).
# The encryption is still PBES2 with AES-256; tests marked ``production_kdf`` use the production
# count and check it.
@pytest.fixture(autouse=True)
def _cheap_key_encryption(request, monkeypatch) -> None:
    if request.node.get_closest_marker("production_kdf") is None:
        monkeypatch.setattr(key_files, "_KDF_ROUNDS", 1_000)


# RSA keys made once per worker: generating the servers' RSA-3072 key is most of a test PKI's
# set-up (0.5-1 s of a ~2 s init). Each test draws them in order from the start, so within a
# test every key is new and distinct; across tests, which share nothing else, keys repeat.
_RSA_POOL: dict[str, list] = {}
# The index of the last key this test drew, by spec (a PKI copied from a snapshot counts as drawn).
_RSA_DRAWN: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _rsa_keys_from_a_pool(monkeypatch) -> None:
    import pki.keystore

    generate = pki.keystore.generate_private_key
    _RSA_DRAWN.clear()

    def pooled(spec: str):
        if not spec.startswith("rsa-"):
            return generate(spec)
        pool = _RSA_POOL.setdefault(spec, [])
        index = _RSA_DRAWN[spec] = _RSA_DRAWN.get(spec, -1) + 1
        while index >= len(pool):
            pool.append(generate(spec))
        return pool[index]

    monkeypatch.setattr(pki.keystore, "generate_private_key", pooled)


# What makes a test slow (README "Run the tests"; pyproject's markers): it starts the OCPP and
# REST servers on loopback or other processes, makes a PostgreSQL database or a SoftHSM2 token
# of its own. Marked here by what the test uses, so a new test is marked as its neighbours are;
# a test that starts a process without any of these carries ``@pytest.mark.slow`` itself.
# ``pytest -m "not slow"`` is then what runs in process (about 80 s of CPU, two workers).
# ``cli`` is the fixture of the modules that run `chargeca` in a process of its own.
_SLOW_FIXTURES = frozenset({"csms", "tls_csms", "postgres_url", "softhsm_token", "cli"})
# Support modules, and functions of others, that start servers or processes: a test module
# using any of them is slow.
_SERVER_HARNESSES = frozenset({"ocpp_support", "ocpp_transport_helpers", "serve_support", "rotation_support"})
_SERVER_STARTERS = frozenset({"open_csms", "certificate_csms", "running_server", "FileService", "FileServiceProcess",
                              "start_file_service"})
_SLOW_FOLDERS = frozenset({"doors", "rotation", "conformance"})  # processes, fleets, whole workflows
_TESTS = Path(__file__).parent


def _is_slow(item) -> bool:
    if item.get_closest_marker("postgres") or _SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    if getattr(getattr(item, "callspec", None), "params", {}).get("keystore_kind") == "pkcs11":
        return True
    in_slow_folder = item.path.is_relative_to(_TESTS) and item.path.relative_to(_TESTS).parts[0] in _SLOW_FOLDERS
    if in_slow_folder and not item.get_closest_marker("fast"):  # a quick check that lives with its door
        return True
    module = getattr(item, "module", None)
    return module is not None and any(
        getattr(value, "__module__", None) in _SERVER_HARNESSES or getattr(value, "__name__", None) in _SERVER_STARTERS
        for value in vars(module).values())


# Run first: the modules whose tests run real processes one after another (CLI, serve, crash
# recovery, the README's quickstart, the cluster's nodes: 5-60 s a test). pytest-xdist's
# worksteal hands each worker a contiguous half of this order and lets an idle one take the far
# end of a busy one's queue, so with the long tests at the front the last minutes are short tests
# spread over every worker, not one worker finishing a minute-long test alone (pyproject's addopts).
_FIRST_FOLDERS = ("doors", "cluster")


def _runs_first(item) -> bool:
    return item.path.is_relative_to(_TESTS) and item.path.relative_to(_TESTS).parts[0] in _FIRST_FOLDERS


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if not item.get_closest_marker("slow") and _is_slow(item):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: not _runs_first(item))  # stable: each module's tests stay together


def pytest_xdist_auto_num_workers(config) -> int:
    # `-n auto`: two workers a core when the slow tests run, whose time is half waiting (processes
    # starting, stations reconnecting, timeouts): one a core left a core idle 40 % of the whole
    # suite (2 cores: 8:08 with 2 workers, 7:05 with 4). The others keep a core busy each, and a
    # second worker only adds its collection and contention (-m "not slow": 67 s with 2, 94 s with 4).
    cores = os.cpu_count() or 1
    marks = config.getoption("markexpr") or ""
    return 2 * cores if not marks or ("slow" in marks and "not slow" not in marks) else cores
