"""Bounds of the integers the REST API accepts.

A client may send any number of digits; a database column holds 64 bits. An integer beyond that
reaches the driver as an OverflowError (SQLite) or an out-of-range error (PostgreSQL), i.e. a 500.
Every integer parameter is therefore declared with one of these types: the request is refused
with 422 naming the field before any query runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

INT64_MAX = 2**63 - 1

RowId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Row id (1 to 2^63-1).")]
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="Rows to skip.")]
