"""Points in time a client sends, held to what the database can store.

Times are stored in UTC (storage/types.py). ``0001-01-01T00:00:00+14:00`` is a valid date-time,
but in UTC it falls in year 0, which no datetime (and so no column here) can hold; so does
``9999-12-31T23:59:59-12:00``, in year 10000. Converted where it was stored or compared, such a
time was a 500; typed with these, it is a 422 naming the field. ``AwareInstant`` wants an offset;
``Instant`` also takes a time without one, which the routes that accept it read as UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

from api.rest.errors import ApiError
from storage.types import as_utc


def _storable(value: datetime) -> datetime:
    if value.tzinfo is not None:
        as_utc(value)   # its ValueError is pydantic's 422, naming the field
    return value


AwareInstant = Annotated[AwareDatetime, AfterValidator(_storable)]
Instant = Annotated[datetime, AfterValidator(_storable)]


def require_window(since: datetime | None, until: datetime | None) -> None:
    """``until`` is excluded, so a ``since`` at or after it selects nothing, whatever is stored:
    an empty answer would read as "nothing happened" (dates swapped, a typo in a year)."""
    if since is not None and until is not None and since >= until:
        raise ApiError(422, f"since ({since.isoformat()}) must be before until ({until.isoformat()}); until is "
                            "excluded", rule="request.window", field="query.until")
