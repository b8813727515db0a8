"""A test's database brought to the newest revision the cheap way.

Running the migrations took a third of the fast tests' CPU: alembic loads and executes every
revision script again for each new database. A new SQLite file is instead a copy of an empty one
this process migrated once (PostgreSQL's are reused instead: tests/support/pg_databases.py).
``migrate`` then finds it at the head revision, as at every start. Tests of the migrations
themselves call ``storage.db.migrate`` on a file of their own.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from storage.db import migrate

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


def _template() -> Path:
    if not _TEMPLATE:
        directory = Path(tempfile.mkdtemp(prefix="chargeca-migrated-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        template = directory / "migrated.db"
        migrate(f"sqlite:///{template}")
        _TEMPLATE.append(template)
    return _TEMPLATE[0]
