"""A background loop's failures in the log (api/core/failure_log.py): once with the traceback, a
repeat summarised at most once a minute, a new failure at once, the recovery once; and the loop's
wait between passes, which a cancel always ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from api.core.failure_log import FailureLog, woken_or_after

pytestmark = pytest.mark.fast

LOGGER = "chargeca.test.failure_log"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:  # noqa: BLE001 - a pass's exception, as a loop catches it
        return caught


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, bool]]:
    return [(record.levelname, record.getMessage(), record.exc_info is not None) for record in caplog.records
            if record.name == LOGGER]


def test_an_outage_of_a_poll_a_second_logs_a_few_lines_not_one_per_poll(caplog) -> None:
    clock = Clock()
    failures = FailureLog(logging.getLogger(LOGGER), "looking for station disconnect requests", clock=clock)
    down = ConnectionError('database "chargeca" does not exist')

    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in range(150):   # two and a half minutes of a poll a second
            failures.failed(_raised(down))
            clock.now += 1
        assert failures.failing
        failures.succeeded()
        failures.succeeded()   # a pass that works after one that worked says nothing

    lines = _lines(caplog)
    assert lines[0] == ("ERROR", "looking for station disconnect requests failed", True)
    assert [message for _, message, _ in lines[1:3]] == [
        "looking for station disconnect requests still fails: 60 times in the last 60 s, 61 since 60 s ago "
        "(ConnectionError: database \"chargeca\" does not exist)",
        "looking for station disconnect requests still fails: 60 times in the last 60 s, 121 since 120 s ago "
        "(ConnectionError: database \"chargeca\" does not exist)"]
    assert not any(with_traceback for _, _, with_traceback in lines[1:])
    assert lines[3:] == [("WARNING", "looking for station disconnect requests works again, after 150 failed passes "
                                     "over 150 s", False)]
    assert not failures.failing


@pytest.fixture
def scan(caplog) -> Iterator[tuple[Clock, FailureLog]]:
    """An outbox scan's failures, on a clock the test moves."""
    clock = Clock()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        yield clock, FailureLog(logging.getLogger(LOGGER), "outbox scan", clock=clock)


def test_a_different_failure_is_logged_at_once_with_its_traceback(scan, caplog) -> None:
    clock, failures = scan
    for failure in (ConnectionError("refused"), ConnectionError("refused"),
                    PermissionError("role chargeca may not read outbound_call")):
        failures.failed(_raised(failure))
        clock.now += 1

    assert _lines(caplog) == [("ERROR", "outbox scan failed", True), ("ERROR", "outbox scan failed", True)]
    assert "PermissionError" in caplog.records[-1].exc_text


def test_a_failure_after_a_recovery_counts_afresh(scan, caplog) -> None:
    clock, failures = scan
    failures.failed(_raised(ConnectionError("refused")))
    clock.now += 5
    failures.succeeded()
    clock.now += 100
    failures.failed(_raised(ConnectionError("refused")))   # the same reason: a new outage, with its traceback
    clock.now += 2
    failures.succeeded()

    assert [(level, with_traceback) for level, _, with_traceback in _lines(caplog)] == [
        ("ERROR", True), ("WARNING", False), ("ERROR", True), ("WARNING", False)]
    assert _lines(caplog)[-1][1] == "outbox scan works again, after 1 failed passes over 2 s"


async def test_a_pass_that_fails_is_reported_and_the_loop_goes_on(caplog) -> None:
    failures = FailureLog(logging.getLogger(LOGGER), "scan", clock=Clock())
    passes = []

    async def scan() -> None:
        passes.append(len(passes))
        if len(passes) == 1:
            raise RuntimeError("database away")

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await failures.attempt(scan)
        assert failures.failing
        await failures.attempt(scan)
    assert passes == [0, 1] and not failures.failing
    assert [record.getMessage() for record in caplog.records] == [
        "scan failed", "scan works again, after 1 failed passes over 0 s"]


async def test_a_worker_cancelled_just_as_it_is_woken_stops() -> None:
    """On Python 3.11 an ``asyncio.wait_for`` on the event returned instead of raising here, and
    the worker went on for good: its ``aclose`` never returned."""
    wake = asyncio.Event()
    passes = 0

    async def worker() -> None:
        nonlocal passes
        while True:
            passes += 1
            await woken_or_after(wake, 60)
            wake.clear()

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)   # in its wait
    wake.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done and task.cancelled()
    assert passes == 1


async def test_the_wait_ends_when_woken_or_after_its_time() -> None:
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await woken_or_after(wake, 0.05)
    assert loop.time() - started >= 0.04
    loop.call_later(0.01, wake.set)
    started = loop.time()
    await woken_or_after(wake, 30)
    assert loop.time() - started < 5
