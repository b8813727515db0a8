"""Bounds of the integers the REST API accepts.

A client may send any number of digits; a database column holds 32 bits (an INTEGER on
PostgreSQL: the row ids of most tables, EVSE ids) or 64 (a BIGINT: the message log's ids, and
any integer on SQLite). An integer beyond its column's reaches the driver as an OverflowError
(SQLite) or an out-of-range error (PostgreSQL): a 422 that cannot say which field was at fault.
Every integer parameter is therefore declared with one of these types or bounds, by the column
it is compared with: the request is refused with 422 naming the field before any query runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from storage.types import INT32_MAX, INT32_MIN, INT64_MAX

__all__ = ["INT32_MAX", "INT32_MIN", "INT64_MAX", "Offset", "RowId"]

RowId = Annotated[int, Path(ge=1, le=INT32_MAX, description="Row id (1 to 2^31-1).")]
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="Rows to skip.")]
