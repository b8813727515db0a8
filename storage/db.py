"""The engine, sessions and schema migrations: the only place that knows which database runs."""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DataError, DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from policies.refusal import Refusal
from storage.sqlite_pragmas import WAL_AUTOCHECKPOINT_PAGES, connection_pragmas
from storage.sqlite_writers import WriterQueuedConnection

if TYPE_CHECKING:
    from alembic.config import Config


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; callers answer 503 / exit non-zero, never lose data silently."""


class UnstorableValue(Refusal):
    """The database refused a value of the request (a DataError: a NUL in PostgreSQL text, a
    string over its column's length, a number out of its type's range). Nothing was written: the
    unit of work was rolled back. The doors check their input before this; this is the net under
    them, so that whatever one let through is a refusal the caller can act on, not a crash."""

    def __init__(self, exc: DataError) -> None:
        state = getattr(exc.orig, "sqlstate", None)
        if state is None:
            # Refused by the driver before sending: its message names the problem, not the value.
            reason = f"a value cannot be stored: {_describe(exc)}"
        else:
            # The server's own message may quote the value (a password, say): its condition only.
            reason = f"a value cannot be stored (SQLSTATE {state}, {type(exc.orig).__name__})"
        super().__init__("storage.value", reason)


def _sqlalchemy_url(url: str) -> str:
    # Accept the libpq form officers paste; SQLAlchemy needs the driver named.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


# SQLite, and PostgreSQL through psycopg 3: the drivers installed and tested.
_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")


def url_problem(url: str) -> str | None:
    """Why ``url`` names no database this service can open, None when it names one; without the
    URL, which may hold a password. Unchecked, another scheme ended in a traceback (no driver),
    and a port that is no number in "invalid literal for int()"."""
    try:
        drivername = make_url(_sqlalchemy_url(url)).drivername
    except (ArgumentError, ValueError):
        return "is no database URL (sqlite:///FILE or postgresql://USER@HOST[:PORT]/DATABASE)"
    if drivername not in _DRIVERS:
        return f"names {drivername}: ChargeCA stores in SQLite (sqlite:///FILE) or PostgreSQL (postgresql://...)"
    return None


def make_engine(url: str, *, checkpoint_on_commit_pages: int = WAL_AUTOCHECKPOINT_PAGES) -> Engine:
    """``checkpoint_on_commit_pages``: on SQLite, the WAL size at which a commit checkpoints (a
    serving process, whose own thread checkpoints, passes a backstop: storage/wal_checkpointer.py)."""
    url = _sqlalchemy_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30,
                                                  "factory": WriterQueuedConnection})
        _configure_sqlite(engine, checkpoint_on_commit_pages)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=10)
    _ping_idle_connections(engine)
    return engine


# A pooled PostgreSQL connection is pinged before use only once it has sat unused this long: one
# that served a moment ago is as alive as a ping would show, and a ping is a round trip on every
# unit of work (four on an operator's call, one per group of a charging fleet's events). A
# connection that died while in use fails its statement instead (503, DatabaseUnavailable), and
# SQLAlchemy then discards every connection the pool held before it.
PING_AFTER_IDLE_SECONDS = 2.0
_LAST_USED = "chargeca_last_used"


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection, record):  # noqa: ANN001
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):  # noqa: ANN001
        if record is not None:
            record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):  # noqa: ANN001
        if time.monotonic() - record.info.get(_LAST_USED, 0.0) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and takes (or opens) another.
            raise DisconnectionError(f"a pooled connection did not answer: {exc}") from exc


def _configure_sqlite(engine: Engine, checkpoint_on_commit_pages: int = WAL_AUTOCHECKPOINT_PAGES) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Take over transaction control from pysqlite so that BEGIN IMMEDIATE can be issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in connection_pragmas(checkpoint_on_commit_pages):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # noqa: ANN001
        # A deferred transaction that reads, then writes, fails at once with SQLITE_BUSY when
        # another writer committed in between; taking the write lock up front makes writers queue.
        # A unit of work that only reads (read_scope) needs no lock: in WAL mode it never waits.
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        statement = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        # On the driver's connection: through exec_driver_sql, SQLAlchemy's execution machinery
        # cost ~13 µs of a unit of work's ~75 µs on top of SQLite's own (thousands of units a
        # second in a boot storm or a charging fleet). Its errors are SQLAlchemy's all the same.
        dbapi_connection = connection.connection.dbapi_connection
        try:
            if read_only:
                dbapi_connection.execute(statement)
            else:
                dbapi_connection.begin_writing()   # after this process's other writers (sqlite_writers.py)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


_READ_ONLY = "chargeca_read_only"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    try:
        session = Session(engine, expire_on_commit=False)
    except OperationalError as exc:  # pragma: no cover - connect errors surface below
        raise DatabaseUnavailable(str(exc)) from exc
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise DatabaseUnavailable(_describe(exc)) from exc
    except DataError as exc:
        session.rollback()
        raise UnstorableValue(exc) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def _database_unavailable() -> Iterator[None]:
    """An OperationalError (the database unreachable, or gone mid-statement) as DatabaseUnavailable,
    a DataError as UnstorableValue."""
    try:
        yield
    except OperationalError as exc:
        raise DatabaseUnavailable(_describe(exc)) from exc
    except DataError as exc:
        raise UnstorableValue(exc) from exc


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """session_scope without the ORM, for Core writes made many times a second (the audit
    entries of operator calls): commit on success, roll back on any error."""
    with _database_unavailable(), engine.begin() as connection:
        yield connection


@contextmanager
def read_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work that only reads. On SQLite it takes no write lock, so a burst of reads (a
    reconnect storm's admission checks) neither waits for writers nor makes them wait. On
    PostgreSQL it runs without a transaction: each statement reads its own snapshot, as it does
    in a READ COMMITTED transaction, without the BEGIN and COMMIT round trips."""
    with session_scope(_reading(engine)) as session:
        yield session


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """read_scope without the ORM, for reads on every request or connect: through a Session,
    a primary-key lookup cost ~500 µs of CPU on PostgreSQL and ~300 on SQLite; on a connection,
    a statement built once, ~170 and ~90."""
    with _database_unavailable(), _reading(engine).connect() as connection:
        yield connection


def _reading(engine: Engine) -> Engine:
    """``engine`` for read_scope, made once per engine and kept on it (a mapping from engines
    would keep every engine alive: the reader refers to its engine)."""
    reader = getattr(engine, "_chargeca_reader", None)
    if reader is None:
        options = {_READ_ONLY: True}
        if engine.dialect.name == "postgresql":
            options["isolation_level"] = "AUTOCOMMIT"
        reader = engine._chargeca_reader = engine.execution_options(**options)
    return reader


def sqlite_file(engine: Engine) -> Path | None:
    """The file a SQLite ``engine`` writes; None for PostgreSQL or an in-memory database."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or engine.url.query.get("mode") == "memory":
        return None
    return Path(database)


def _describe(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    migrations = resources.files("storage").joinpath("migrations")
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", _sqlalchemy_url(url).replace("%", "%%"))
    return config


def restrict_sqlite_files(url: str, mode: int = 0o600) -> None:
    """SQLite's database file and its -wal/-shm companions readable by their owner only. SQLite
    creates the companions with the database file's mode, so fixing that file once holds."""
    url = _sqlalchemy_url(url)
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return
    database = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        if path.exists():
            os.chmod(path, mode)


def migrate(url: str) -> None:
    """Bring the schema to the newest revision; safe to run on every start."""
    try:
        if _current_revision(url) == head_revision():
            # Not even imported: alembic and what it pulls in (every dialect's DDL, mako, pygments)
            # were a tenth of every `chargeca` command's start, and it would load every revision
            # script to find nothing to do.
            return
        from alembic import command

        command.upgrade(alembic_config(url), "head")
    except OperationalError as exc:
        raise DatabaseUnavailable(_describe(exc)) from exc


_REVISION = re.compile(r"^(down_revision|revision) = (?:'([^']*)'|None)$", re.MULTILINE)


@functools.cache
def head_revision() -> str:
    """The newest revision of storage/migrations, read from the scripts' headers (the one that
    no other revises; alembic's own answer is checked against it in tests/storage)."""
    revised, revisions = set(), set()
    for script in resources.files("storage").joinpath("migrations", "versions").iterdir():
        if script.name.endswith(".py"):
            found = dict((name, value or None) for name, value in _REVISION.findall(script.read_text()))
            revisions.add(found["revision"])
            revised.add(found.get("down_revision"))
    (head,) = revisions - revised
    return head


def _current_revision(url: str) -> str | None:
    """The database's revision (None: not migrated yet), as alembic records it."""
    engine = create_engine(_sqlalchemy_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if not engine.dialect.has_table(connection, "alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
