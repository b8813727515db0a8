"""A test's database brought to the newest revision the cheap way.

Running the migrations took a third of the fast tests' CPU: alembic loads and executes every
revision script again for each new database. A new SQLite file is instead a copy of an empty one
this process migrated once (PostgreSQL's are reused instead: tests/support/pg_databases.py).
``migrate`` then finds it at the head revision, as at every start. Tests of the migrations
themselves take their database back to an older revision (``back_at``).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from storage.db import alembic_config, make_engine, migrate

_TEMPLATE: list[Path] = []


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None: another database, or SQLite in memory)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0])


def migrate_for_test(url: str) -> None:
    """``migrate(url)``, with a new SQLite file first put there as a copy of the template."""
    database = sqlite_file(url)
    if database is not None and not database.exists():
        database.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_template(), database)
    migrate(url)


@contextmanager
def back_at(url: str, revision: str) -> Iterator[tuple[Config, Engine]]:
    """The database ``url`` migrated, then taken back to ``revision`` (for a test to fill as that
    revision had it, then move it on with the config); at the head revision again afterwards,
    whatever the test did, so that a pooled PostgreSQL database can serve the next test."""
    migrate(url)
    config = alembic_config(url)
    engine = make_engine(url)
    try:
        command.downgrade(config, revision)
        yield config, engine
    finally:
        command.upgrade(config, "head")
        engine.dispose()


def _template() -> Path:
    if not _TEMPLATE:
        directory = Path(tempfile.mkdtemp(prefix="chargeca-migrated-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        template = directory / "migrated.db"
        migrate(f"sqlite:///{template}")
        _TEMPLATE.append(template)
    return _TEMPLATE[0]
