"""Core writes run as driver-level executemany, for the few tables written on every message.

Executing a Core INSERT or UPDATE costs SQLAlchemy some 70-90 µs of Python per call (compiled
cache lookup, parameter construction, type processing, result setup) against ~10 µs for SQLite
itself to run it: at a charging fleet's thousand TransactionEvents a second, that overhead was
most of the event's cost. ``DriverWrite`` compiles its statement once per dialect and column set,
keeps the types' bind processors, and hands the rows to the DBAPI cursor's ``executemany`` (an
INSERT on PostgreSQL: ``COPY``), in the transaction the connection is in (no SQLAlchemy events
fire for these statements). What is stored is what the Core statement would store (same SQL, same
processors); rows read back through the models like any other (tests/storage/test_storage_driver.py).

``RoundTrip`` sends several such writes at once: on PostgreSQL one pipeline, one wait for the
server instead of one per statement.

Times are converted once per distinct value in a call: a group of TransactionEvents shares its
``received_at`` and each MeterValue's samples share their timestamp, and SQLite's DATETIME
processor (a string format of seven fields) was a seventh of the meter-value write's Python time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.dml import Insert, Update


class _Plan:
    """One statement for one dialect and column set: how a row becomes its bind values."""

    def __init__(self, sql: str, names: tuple[str, ...], processors: tuple[Callable[[Any], Any] | None, ...],
                 positional: bool, copy: str | None = None) -> None:
        self.sql = sql
        self.copy = copy   # PostgreSQL: the COPY that writes the rows instead of ``sql``
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
        if plan.copy is None:
            cursor = self._executemany(connection, plan, rows)
            try:
                return cursor.rowcount
            finally:
                cursor.close()
        cursor = connection.connection.cursor()
        try:
            converted: dict[tuple[datetime, Any], Any] = {}
            with cursor.copy(plan.copy) as copy:
                for row in rows:
                    copy.write_row(plan.values(row, converted))
            return len(rows)
        finally:
            cursor.close()

    def copies(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Whether ``run`` writes these rows with a COPY."""
        return self._plan_for(connection, rows).copy is not None

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
        if dialect.name == "postgresql" and isinstance(self._statement, Insert) and not upsert:
            # COPY for the rows of an INSERT: psycopg's executemany (a pipeline) spends ~16 µs of
            # Python per row, COPY ~9.
            table = self._statement.table
            quote = dialect.identifier_preparer.quote
            copy = f"COPY {quote(table.name)} ({', '.join(quote(table.c[name].name) for name in names)}) FROM STDIN"
        plan = _Plan(compiled.string, names, processors, compiled.positional, copy)
        self._plans[(dialect.name, keys)] = plan
        return plan


# Rows of an INSERT from which a RoundTrip sends a COPY rather than a statement in its pipeline.
COPY_FROM = 32


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
    the COPY). On SQLite, in-process, each
    write runs as it is given.

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
