"""Newest-first pages of append-only logs (audit entries, security events).

Pages are cut by key ("entries before seq N") rather than by offset, so rows appended while a
client pages through do not shift what it sees next.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from api.rest.numbers import INT32_MAX, INT64_MAX

Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Before = Annotated[int | None, Query(ge=1, le=INT32_MAX,
                                     description="Only rows older than this key (from `next_before`).")]
# The same for a log whose keys are 64 bits (the message log's).
BigBefore = Annotated[int | None, Query(ge=1, le=INT64_MAX,
                                        description="Only rows older than this key (from `next_before`).")]


def newest_first(session: Session, query: SelectOfScalar, key: Any, *, before: int | None,
                 limit: int) -> tuple[list[Any], int | None]:
    """One page and the cursor of the next, or None when this page is the last."""
    if before is not None:
        query = query.where(key < before)
    return page_of(list(session.exec(query.order_by(key.desc()).limit(limit + 1))), limit, key.key)


def page_of(rows: list[Any], limit: int, key: str) -> tuple[list[Any], int | None]:
    """``rows``, read with one more than ``limit`` to tell whether a next page exists, as one page
    and the cursor of the next (the last row's ``key``), or None when this page is the last."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, getattr(rows[-1], key)
