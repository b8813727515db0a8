"""The REST port's per-request log lines within [rest] access_log_lines_per_minute
(api/rest/access_log.py): any client, unauthenticated, causes one per request."""

from __future__ import annotations

import logging

import pytest

from api.core.token_bucket import TokenBucket
from api.rest.access_log import ACCESS_LOGGER, ERROR_LOGGER, AccessLogBudget
from api.rest.serving import server_config
from policies.model import RestPolicy

pytestmark = pytest.mark.fast


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def kept():
    """Configured as `chargeca serve` configures uvicorn (its logging set up anew), [rest]
    access_log_lines_per_minute = 5, the lines kept here."""
    server_config(object(), host="127.0.0.1", port=0, policy=RestPolicy(access_log_lines_per_minute=5),
                  log_level="info")
    handler = Kept()
    loggers = [logging.getLogger(name) for name in (ACCESS_LOGGER, ERROR_LOGGER)]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)
        for budget in [f for f in logger.filters if isinstance(f, AccessLogBudget)]:
            logger.removeFilter(budget)


def _request(status: int) -> None:
    logging.getLogger(ACCESS_LOGGER).info('%s - "%s %s HTTP/%s" %d', "198.51.100.7:4000", "GET",
                                          "/api/v1/audit", "1.1", status)


def test_a_flood_of_requests_logs_the_budget_and_then_how_many_were_held_back(kept):
    (budget,) = [f for f in logging.getLogger(ACCESS_LOGGER).filters if isinstance(f, AccessLogBudget)]
    clock = Clock()
    budget.lines = TokenBucket(5, clock)

    for _ in range(40):
        _request(401)
    logging.getLogger(ERROR_LOGGER).warning("Invalid HTTP request received.")
    logging.getLogger(ERROR_LOGGER).info("Started server process [%d]", 1)

    assert len(kept.lines) == 6 and kept.lines[-1] == "Started server process [1]"
    assert all(line.endswith(" 401") for line in kept.lines[:5])
    clock.now += 12   # a line's worth of budget back
    _request(200)
    assert kept.lines[-1].endswith(' 200 [36 access log line(s) held back before this one by [rest] '
                                   'access_log_lines_per_minute]')


def test_the_budget_is_the_policys_and_one_per_logger():
    server_config(object(), host="127.0.0.1", port=0, policy=RestPolicy(access_log_lines_per_minute=7))
    server_config(object(), host="127.0.0.1", port=0, policy=RestPolicy(access_log_lines_per_minute=9))
    try:
        for name in (ACCESS_LOGGER, ERROR_LOGGER):
            (budget,) = [f for f in logging.getLogger(name).filters if isinstance(f, AccessLogBudget)]
            assert budget.lines.size == 9
        with pytest.raises(ValueError, match=r"\[rest\]"):
            RestPolicy(access_log_lines_per_minute=0)
    finally:
        for name in (ACCESS_LOGGER, ERROR_LOGGER):
            for budget in [f for f in logging.getLogger(name).filters if isinstance(f, AccessLogBudget)]:
                logging.getLogger(name).removeFilter(budget)
