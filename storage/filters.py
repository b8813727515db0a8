"""Filters as queries take them: optional equalities (list endpoints and commands), and long
lists of keys cut into ``IN`` lists a statement can carry."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

Query = TypeVar("Query")
T = TypeVar("T")

# Keys per ``IN`` list: far below any database's limit on bound parameters (SQLite's is 32,766),
# and a list PostgreSQL looks up key by key in an index.
KEYS_PER_STATEMENT = 500


def where_given(query: Query, *pairs: tuple[Any, Any]) -> Query:
    """``column == value`` for each (column, value) whose value was given (is not None)."""
    for column, value in pairs:
        if value is not None:
            query = query.where(column == value)  # type: ignore[attr-defined]
    return query


def in_lists(keys: Iterable[T], size: int = KEYS_PER_STATEMENT) -> Iterator[list[T]]:
    """``keys`` in lists of at most ``size``, in their order, for ``column.in_(…)`` one list a
    statement. Reading a set of stations this way, rather than by ``IN (SELECT …)`` or a join,
    keeps PostgreSQL from planning a nested loop over a table it has not analysed yet (a fleet
    just enrolled or re-issued): a scan of every certificate per station."""
    if size < 1:
        raise ValueError(f"a list holds at least 1 key, not {size}")
    batch: list[T] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
