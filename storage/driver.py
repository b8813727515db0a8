"""Core writes run as driver-level executemany, for the few tables written on every message.

Executing a Core INSERT or UPDATE costs SQLAlchemy some 70-90 µs of Python per call (compiled
cache lookup, parameter construction, type processing, result setup) against ~10 µs for SQLite
itself to run it: at a charging fleet's thousand TransactionEvents a second, that overhead was
most of the event's cost. ``DriverWrite`` compiles its statement once per dialect and column set,
keeps the types' bind processors, and hands the rows to the DBAPI cursor's ``executemany`` (on
PostgreSQL an INSERT's rows go by ``COPY``, and so do those of an UPDATE of many rows, into a
temporary table that one ``UPDATE … FROM`` applies), in the transaction the connection is in (no
SQLAlchemy events fire for these statements). What is stored is what the Core statement would
store (same SQL, same processors); rows read back through the models like any other
(tests/storage/test_storage_driver.py).

``RoundTrip`` sends several such writes at once: on PostgreSQL one pipeline, one wait for the
server instead of one per statement.

Times are converted once per distinct value in a call: a group of TransactionEvents shares its
``received_at`` and each MeterValue's samples share their timestamp, and SQLite's DATETIME
processor (a string format of seven fields) was a seventh of the meter-value write's Python time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.dml import Insert, Update


@dataclass(frozen=True)
class _Copy:
    """How a plan's rows go by COPY on PostgreSQL: an INSERT's straight into its table; an
    UPDATE's into a temporary table of their bind values (``rows_table``, made in the session at
    its first use), then one ``UPDATE … FROM`` it (``apply``, whose count is the write's), after
    which the temporary table is emptied for the next such write of the transaction."""

    copy: str
    rows_table: str | None = None
    create: str | None = None
    apply: str | None = None


class _Plan:
    """One statement for one dialect and column set: how a row becomes its bind values."""

    def __init__(self, sql: str, names: tuple[str, ...], processors: tuple[Callable[[Any], Any] | None, ...],
                 positional: bool, copy: _Copy | None = None) -> None:
        self.sql = sql
        self.copy = copy   # PostgreSQL: how a COPY writes the rows instead of ``sql``
        self.names = names
        self.positional = positional
        # Most columns need no processing: their values are fetched at once, in C, and only the
        # few that do are touched one by one (at 18-30 columns a row, the per-column loop was
        # a third of a charging group's write).
        self._values = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
        self._processed = tuple((at, process) for at, process in enumerate(processors) if process is not None)

    def values(self, row: Mapping[str, Any], converted: dict[tuple[datetime, Any], Any]) -> Sequence[Any]:
        """The row's values in ``names`` order, processed; ``converted`` keeps the times already
        processed in this call, by instant and zone: equal instants in other zones are kept apart,
        so that no column type (one that stores the wall clock as given) can receive another
        row's conversion."""
        values = self._values(row)
        if self._processed:
            values = list(values)
            for at, process in self._processed:
                value = values[at]
                if type(value) is datetime:
                    key = (value, value.tzinfo)
                    done = converted.get(key)
                    if done is None:
                        done = converted[key] = process(value)
                    values[at] = done
                else:
                    values[at] = process(value)
        return values

    def parameters(self, row: Mapping[str, Any], converted: dict[tuple[datetime, Any], Any]) -> tuple | dict:
        """The row's bind values, as the driver's paramstyle takes them."""
        values = self.values(row, converted)
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))


class DriverWrite:
    """An INSERT or UPDATE whose parameters are the keys of each row given to ``run``; every
    row of one call carries the same keys (a column with a Python-side default is given too)."""

    def __init__(self, statement: Insert | Update) -> None:
        # An INSERT must not ask for RETURNING: executemany cannot hand rows back.
        self._statement = statement.inline() if isinstance(statement, Insert) else statement
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    def run(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """How many rows the statement changed (the driver's count, summed over the rows)."""
        if not rows:
            return 0
        plan = self._plan_for(connection, rows)
        how = plan.copy if self._copied(plan, rows) else None
        if how is not None and how.apply is not None and not _may_make_temporary_tables(connection):
            how = None
        if how is None:
            cursor = self._executemany(connection, plan, rows)
            try:
                return cursor.rowcount
            finally:
                cursor.close()
        cursor = connection.connection.cursor()
        try:
            if how.create is not None:
                cursor.execute(how.create)
            converted: dict[tuple[datetime, Any], Any] = {}
            with cursor.copy(how.copy) as copy:
                for row in rows:
                    copy.write_row(plan.values(row, converted))
            if how.apply is None:
                return len(rows)
            cursor.execute(how.apply)
            changed = cursor.rowcount
            cursor.execute(f"DELETE FROM {how.rows_table}")
            return changed
        finally:
            cursor.close()

    def copies(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Whether a ``RoundTrip`` leaves these rows to ``run`` after its pipeline, which writes
        them with a COPY (an UPDATE's, where the session may make a temporary table)."""
        return self._copied(self._plan_for(connection, rows), rows)

    @staticmethod
    def _copied(plan: _Plan, rows: Sequence[Mapping[str, Any]]) -> bool:
        # An UPDATE's COPY costs three statements more than its rows: only for many rows (and,
        # ``run`` checks, where the session may make a temporary table).
        return plan.copy is not None and (plan.copy.apply is None or len(rows) >= COPY_FROM)

    def send(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> Any:
        """The statement for ``rows`` sent in the connection's pipeline (never a COPY: a pipeline
        cannot carry one); the cursor, whose count is known once the pipeline has synced."""
        return self._executemany(connection, self._plan_for(connection, rows), rows)

    @staticmethod
    def _executemany(connection: Connection, plan: _Plan, rows: Sequence[Mapping[str, Any]]) -> Any:
        """``plan`` run for ``rows`` on the DBAPI cursor of the connection's transaction, which is
        returned open (even exec_driver_sql runs SQLAlchemy's execution context and events around
        each call, half the cost this saves)."""
        cursor = connection.connection.cursor()
        try:
            converted: dict[tuple[datetime, Any], Any] = {}
            cursor.executemany(plan.sql, [plan.parameters(row, converted) for row in rows])
        except BaseException:
            cursor.close()
            raise
        return cursor

    def _plan_for(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> _Plan:
        keys = tuple(rows[0])
        return self._plans.get((connection.dialect.name, keys)) or self._plan(connection.dialect, keys)

    def _plan(self, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
        compiled = self._statement.compile(dialect=dialect, column_keys=list(keys))
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
        missing = [name for name in names if name not in keys]
        if missing:
            raise ValueError(f"{self._statement.table}: rows lack the parameters {missing}")
        # dialect_impl: a TypeDecorator's processor chains to the dialect's own type (SQLite's
        # DATETIME text), which its generic impl would leave out.
        processors = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
        copy = None
        # Not for an INSERT … ON CONFLICT (the dialects keep that clause here): a COPY can neither
        # skip nor update a row that is there.
        upsert = getattr(self._statement, "_post_values_clause", None) is not None
        quote = dialect.identifier_preparer.quote
        if dialect.name == "postgresql" and isinstance(self._statement, Insert) and not upsert:
            # COPY for the rows of an INSERT: psycopg's executemany (a pipeline) spends ~16 µs of
            # Python per row, COPY ~9.
            table = self._statement.table
            copy = _Copy(f"COPY {quote(table.name)} ({', '.join(quote(table.c[name].name) for name in names)}) "
                         "FROM STDIN")
        elif dialect.name == "postgresql" and isinstance(self._statement, Update) and not compiled.positional:
            copy = _update_by_copy(compiled.string, names, {
                name: compiled.binds[name].type.dialect_impl(dialect).compile(dialect=dialect) for name in names},
                quote)
        plan = _Plan(compiled.string, names, processors, compiled.positional, copy)
        self._plans[(dialect.name, keys)] = plan
        return plan


# Rows of a write from which a RoundTrip sends a COPY rather than a statement in its pipeline, and
# from which an UPDATE goes by COPY at all.
COPY_FROM = 32
_BIND = re.compile(r"%\((\w+)\)s")


def _update_by_copy(sql: str, names: tuple[str, ...], types: Mapping[str, str],
                    quote: Callable[[str], str]) -> _Copy | None:
    """An UPDATE's rows written by COPY into a temporary table of their bind values, and the
    statement applied to every row at once from it: psycopg's executemany spends ~20 µs of Python
    on each row's statement, a COPY ~5 on each row. For a plain ``UPDATE … SET … WHERE …`` whose
    binds are all named (None otherwise: it runs as statements)."""
    parts = sql.split(" WHERE ")
    if len(parts) != 2 or not parts[0].startswith("UPDATE ") or " RETURNING " in parts[1]:
        return None
    head, where = parts
    # Named by its columns: writes of the same binds share one, each emptying it after its use.
    signature = ",".join(f"{name}:{types[name]}" for name in names)
    rows_table = f"_rows_{hashlib.sha256(signature.encode()).hexdigest()[:24]}"

    def from_rows(part: str) -> str:
        return _BIND.sub(lambda found: f"{rows_table}.{quote(found.group(1))}", part)

    apply = f"{from_rows(head)} FROM {rows_table} WHERE {from_rows(where)}"
    if "%(" in apply or set(_BIND.findall(sql)) != set(names):
        return None
    columns = ", ".join(f"{quote(name)} {types[name]}" for name in names)
    # ON COMMIT DELETE ROWS: a transaction that fails between the COPY and the emptying leaves none.
    return _Copy(copy=f"COPY {rows_table} ({', '.join(quote(name) for name in names)}) FROM STDIN",
                 rows_table=rows_table, apply=apply,
                 create=f"CREATE TEMPORARY TABLE IF NOT EXISTS {rows_table} ({columns}) ON COMMIT DELETE ROWS")


def _may_make_temporary_tables(connection: Connection) -> bool:
    """Whether this session may make temporary tables: asked once per database connection."""
    info = connection.connection.info
    allowed = info.get("chargeca_temporary_tables")
    if allowed is None:
        allowed = info["chargeca_temporary_tables"] = bool(connection.exec_driver_sql(
            "SELECT has_database_privilege(current_database(), 'TEMPORARY')").scalar())
    return allowed


class Count:
    """How many rows a write of a ``RoundTrip`` changed: known once the round trip has ended."""

    __slots__ = ("_value",)

    def __init__(self, value: int | None = None) -> None:
        self._value = value

    @property
    def value(self) -> int:
        if self._value is None:
            raise RuntimeError("a write's count is known only once its round trip has ended")
        return self._value


class RoundTrip:
    """Writes sent to the database together. On PostgreSQL, in psycopg's pipeline mode: every
    write of the block (and the BEGIN before the first) goes out without waiting for the one
    before, and one Sync at the end reads every result: one round trip where the BEGIN cost one
    and each write one or two (a statement, or a COPY's start and end), each one a wait for the
    server to be scheduled on a busy machine. Measured in-process (groups of four
    TransactionEvents: their summaries' UPDATE, their event and meter-value INSERTs): 1.54-1.58 ms
    of wall time a group before, 1.21-1.32 ms in one round trip, for 2-4 % more client CPU (a
    pipeline cannot carry a COPY: its inserts go as statements, a few µs more of Python a row).
    An INSERT of ``COPY_FROM`` rows or more goes as a COPY after the pipeline instead: for the
    hundreds of rows of a group stored behind its answers (storage/write_behind.py), the Python
    saved a row is worth more than the round trips the COPY adds (groups of 50 TransactionEvents,
    in-process, 16 alternations: a median 202 µs of client CPU an event in the pipeline, 163 with
    the COPY). An UPDATE of as many rows goes after the pipeline too, as a COPY of its rows into a
    temporary table and one ``UPDATE … FROM`` it: in process, groups of 50 TransactionEvents
    (their summaries' UPDATE), three alternations, a median 95.3-96.3 µs of client CPU an event
    with the UPDATE's rows as statements in the pipeline, 88.0-88.6 with the COPY. The rows of one
    such UPDATE must name distinct rows of the table (as a group's summaries do): a row named
    twice is changed once. On SQLite, in-process, each write runs as it is given.

        with RoundTrip(connection) as trip:
            updated = trip.write(UPDATE_ROWS, rows)
            trip.write(INSERT_EVENTS, events)
        updated.value

    A write that fails makes the block raise the driver's error at its end (the transaction is
    then aborted, as after any failed statement)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._pipeline: Any = None
        self._sent: list[tuple[Count, Any]] = []
        self._copied: list[tuple[Count, DriverWrite, Sequence[Mapping[str, Any]]]] = []

    def __enter__(self) -> RoundTrip:
        if self._connection.dialect.name == "postgresql" and _pipelines_supported():
            self._pipeline = self._connection.connection.dbapi_connection.pipeline()
            self._pipeline.__enter__()
        return self

    def write(self, statement: DriverWrite, rows: Sequence[Mapping[str, Any]]) -> Count:
        if self._pipeline is None or not rows:
            return Count(statement.run(self._connection, rows))
        count = Count()
        if len(rows) >= COPY_FROM and statement.copies(self._connection, rows):
            self._copied.append((count, statement, rows))
        else:
            self._sent.append((count, statement.send(self._connection, rows)))
        return count

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self._pipeline is not None:
                self._pipeline.__exit__(*exc_info)   # the Sync: every result read, or the first error raised
            for count, cursor in self._sent:
                count._value = cursor.rowcount
        finally:
            for _, cursor in self._sent:
                cursor.close()
        if exc_info[0] is None:
            for count, statement, rows in self._copied:
                count._value = statement.run(self._connection, rows)


def _pipelines_supported() -> bool:
    """psycopg's pipeline mode needs libpq 14 or later (its binary wheels bring their own); with
    an older system libpq each write goes alone, as before."""
    import psycopg  # only where PostgreSQL is used

    return psycopg.Pipeline.is_supported()
