"""OCPP's dateTime, read one way by the schema checks (api/ocpp/validation.py and its quick
check) and the handlers (api/ocpp/handler.parse_datetime).

RFC 3339 as fastjsonschema's pattern has it, and an instant a datetime holds in UTC. The pattern
alone lets February 30, hour 25 and 0001-01-01T00:00:00+14:00 (year 0 in UTC) through; RFC 3339
also allows a lower-case 't'/'z', which fromisoformat refuses.
"""

from __future__ import annotations

import re
from datetime import datetime

from fastjsonschema.draft04 import CodeGeneratorDraft04

from storage.types import as_utc

# What a refusal says of a value that is none (after the field's name and the value).
PROBLEM = "is not a date-time or is out of range (a real date, years 1 to 9999 in UTC)"

_PATTERN = re.compile(CodeGeneratorDraft04.FORMAT_REGEXS["date-time"]).match


def instant(text: str) -> datetime:
    """``text`` as an aware datetime in UTC; ValueError when it is no instant."""
    return as_utc(datetime.fromisoformat(text.upper()))


def is_date_time(text: str) -> bool:
    """The pattern, then the parse (which costs less than the pattern)."""
    if _PATTERN(text) is None:
        return False
    try:
        instant(text)
    except ValueError:
        return False
    return True
