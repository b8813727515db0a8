"""The REST port's access log within a budget: a line per request is a line per request anyone can
send, before any authentication, and a flood of them would fill the disk at the client's rate.

uvicorn writes one access line per request (``uvicorn.access``) and a warning per request it
cannot parse (``uvicorn.error``, "Invalid HTTP request received."). ``AccessLogBudget`` passes
up to ``lines_per_minute`` of those (a token bucket: bursts of as many), and says how many it
held back in the next line it passes, so the log shows a flood's size without its lines. Every
other line of uvicorn's passes. Failed authentications are counted apart (api/rest/auth_failures.py)
and audited in aggregate; accepted requests that change state are audited one by one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from api.core.token_bucket import TokenBucket

ACCESS_LOGGER, ERROR_LOGGER = "uvicorn.access", "uvicorn.error"
_UNPARSED = "Invalid HTTP request received."


class AccessLogBudget(logging.Filter):
    def __init__(self, lines_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.lines = TokenBucket(lines_per_minute, clock)
        self.held_back = 0   # since the last line passed

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ERROR_LOGGER and record.msg != _UNPARSED:
            return True
        if not self.lines.take():
            self.held_back += 1
            return False
        if self.held_back:
            record.msg = f"{record.msg} [{self.held_back} access log line(s) held back before this one by " \
                         "[rest] access_log_lines_per_minute]"
            self.held_back = 0
        return True


def limit_access_log(lines_per_minute: int) -> AccessLogBudget:
    """Put one budget on uvicorn's per-request lines (after uvicorn configured its logging)."""
    budget = AccessLogBudget(lines_per_minute)
    for name in (ACCESS_LOGGER, ERROR_LOGGER):
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, AccessLogBudget)]:
            logger.removeFilter(old)
        logger.addFilter(budget)
    return budget
