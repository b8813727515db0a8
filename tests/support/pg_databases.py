"""PostgreSQL databases for tests: each worker migrates one template from empty, as a first start
does, and hands each test a database that shows exactly what a copy of that template shows.

A copy per test (CREATE DATABASE ... TEMPLATE, then DROP) cost the server ~0.35 s, mostly its
kernel making and unlinking a few hundred files: perf put a tenth of the whole suite's CPU in
PostgreSQL, in ext4's inode allocator. So a database a test is done with is emptied instead and
given to the worker's next test: its connections cut, every row deleted, every sequence back at
its start. A database whose schema or settings a test changed (a partition made, a revision
written, connections left refused) is dropped, not reused.
"""

from __future__ import annotations

import os
import secrets

from storage.db import migrate

PG_URL = os.environ.get("CHARGECA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

# What a test may not change and leave its database reusable: the schemas, tables (partitions
# too, whatever their schema) and their columns, indexes, constraints, triggers and functions, and
# the revision. (A database left refusing connections is found before: see _emptied.)
_SHAPE = """
SELECT md5(string_agg(item, ',' ORDER BY item)) FROM (
    SELECT table_schema || '.' || table_name || '.' || column_name || ':' || data_type || ':'
           || coalesce(column_default, '')
      FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
    UNION ALL SELECT 'index ' || indexdef FROM pg_indexes
      WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
    UNION ALL SELECT 'constraint ' || conname || pg_get_constraintdef(oid) FROM pg_constraint
      WHERE connamespace <> 'pg_catalog'::regnamespace
    UNION ALL SELECT 'trigger ' || tgname || tgenabled::text FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL SELECT 'function ' || proname FROM pg_proc
      WHERE pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
    UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
    UNION ALL SELECT 'revision ' || version_num FROM alembic_version
) shape(item)
"""


def admin_connection(database: str | None = None):
    import psycopg

    url = PG_URL if database is None else url_of(database)
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def url_of(name: str) -> str:
    return f"{PG_URL.rsplit('/', 1)[0]}/{name}"


class DatabasePool:
    """One worker's template and its reusable databases."""

    def __init__(self) -> None:
        self._template: str | None = None
        self._shape = ""
        self._tables: list[str] = []
        self._free: list[str] = []

    def take(self) -> str:
        """The name of a database as the template is, for one test."""
        if self._free:
            return self._free.pop()
        name = f"chargeca_t_{secrets.token_hex(6)}"
        with admin_connection() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._made_template()}"')
        return name

    def give_back(self, name: str) -> None:
        try:
            reusable = self._emptied(name)
        except Exception:  # noqa: BLE001 - a database that cannot be emptied is simply dropped
            reusable = False
        if reusable:
            self._free.append(name)
        else:
            drop(name)

    def close(self) -> None:
        for name in [*self._free, *([self._template] if self._template else [])]:
            drop(name)
        self._free.clear()
        self._template = None

    def _made_template(self) -> str:
        if self._template is None:
            name = f"chargeca_tpl_{secrets.token_hex(6)}"
            with admin_connection() as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            migrate(url_of(name))   # the whole chain, from an empty database, as a first start runs it
            with admin_connection(name) as template:
                self._shape = template.execute(_SHAPE).fetchone()[0]
                self._tables = [row[0] for row in template.execute(
                    "SELECT format('%I', tablename) FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'")]
            self._template = name
        return self._template

    def _emptied(self, name: str) -> bool:
        with admin_connection() as admin:
            allowed = admin.execute("SELECT datallowconn FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not allowed or not allowed[0]:
            return False
        with admin_connection(name) as database:
            database.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            if database.execute(_SHAPE).fetchone()[0] != self._shape:
                return False
            with database.transaction():
                # Without foreign-key and user triggers (the audit chain refuses deletes): all goes.
                database.execute("SET LOCAL session_replication_role = replica")
                for table in self._tables:
                    database.execute(f"DELETE FROM {table}")
                database.execute("SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
                                 "FROM pg_sequences WHERE schemaname = 'public'")
        return True


def drop(name: str) -> None:
    with admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
