"""A PostgreSQL database of its own for one benchmark run, so that no run counts another's rows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def scratch_database(url: str | None) -> Iterator[str | None]:
    """For a ``postgresql://…/db`` url: a new database beside ``db``, dropped afterwards (even
    with connections left open). Any other url, or None, is given back as it is."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    import psycopg  # only where PostgreSQL is used

    name = f"chargeca_bench_{secrets.token_hex(4)}"
    admin_url = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
