"""Optional equality filters, as list endpoints and commands take them."""

from __future__ import annotations

from typing import Any, TypeVar

Query = TypeVar("Query")


def where_given(query: Query, *pairs: tuple[Any, Any]) -> Query:
    """``column == value`` for each (column, value) whose value was given (is not None)."""
    for column, value in pairs:
        if value is not None:
            query = query.where(column == value)  # type: ignore[attr-defined]
    return query
