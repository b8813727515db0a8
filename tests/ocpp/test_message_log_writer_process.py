"""The message log's writer process (api/ocpp/message_log/writer_process.py, writer_helper.py):
frames redacted and stored by a process of its own at a lower priority than the gateway; the
database's errors named and the batch counted lost; a process that ends or cannot start leaves
the writing to a thread, its batch included; signals to the process group do not end it; a close
is bounded."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from ocpp.v201.enums import Action
from sqlmodel import select

from api.core.settings import GatewayConfig
from api.ocpp import framing
from api.ocpp.framing import Call, CallResult
from api.ocpp.gateway import Gateway
from api.ocpp.message_log import writer_process
from api.ocpp.message_log.recorder import MessageLog
from api.ocpp.message_log.redaction import Redactor
from api.ocpp.message_log.writer_helper import APPLICATION_NAME, NICE, LogDatabase
from policies.model import MessageLogPolicy
from storage.db import make_engine, session_scope
from storage.message_log import (
    OcppMessage,
    OcppMessageBatch,
    OcppMessageSpan,
    helper_target,
    insert_rows,
    message_log_engine,
)

pytestmark = pytest.mark.fast
KEY = b"w" * 32
TOKEN = "04A2B3C4D5E6F7"


def _on_a_thread(engine):
    async def write(rows):
        def insert():
            with session_scope(message_log_engine(engine)) as session:
                insert_rows(session, rows)
        await asyncio.to_thread(insert)
    return write


def _log(engine, target=None) -> MessageLog:
    return MessageLog(MessageLogPolicy(), _on_a_thread(engine), flush_interval=60, key=KEY,
                      in_process=target or functools.partial(helper_target, engine))


def _authorize(log: MessageLog, message_id: str, station: str = "CS-1") -> None:
    call = Call(message_id, "Authorize", {"idToken": {"idToken": TOKEN, "type": "ISO14443"}})
    log.received(station, framing.serialize(call), call, None)
    answer = CallResult(message_id, {"idTokenInfo": {"status": "Accepted"}})
    log.sent(station, framing.serialize(answer), answer, "Authorize")


def _stored(engine) -> list[OcppMessage]:
    with session_scope(message_log_engine(engine)) as session:
        return list(session.exec(select(OcppMessage).order_by(OcppMessage.id)))


def _helper_pid(log: MessageLog) -> int:
    pid = log._process.pid  # noqa: SLF001 - which process wrote is what is tested
    assert pid is not None and pid != os.getpid()
    return pid


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


async def test_frames_are_redacted_and_stored_by_a_process_running_below_the_gateway(engine):
    log = _log(engine)
    _authorize(log, "a1")
    set_password = Call("s1", "SetVariables", {"setVariableData": [{
        "attributeValue": "hunter2-secret", "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"}}]})
    log.sent("CS-1", framing.serialize(set_password), set_password, "SetVariables")
    log.unread("CS-1", 70_000)
    await log.flush()
    pid = _helper_pid(log)
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICE)
    stored = _stored(engine)
    assert [(row.direction, row.kind, row.action) for row in stored] == [
        ("in", "CALL", "Authorize"), ("out", "CALLRESULT", "Authorize"), ("out", "CALL", "SetVariables"),
        ("in", "MALFORMED", None)]
    assert TOKEN not in stored[0].frame and Redactor(KEY).pseudonym(TOKEN) in stored[0].frame
    assert "hunter2" not in stored[2].frame and "[redacted]" in stored[2].frame
    assert stored[3].size == 70_000 and stored[3].truncated and stored[3].frame == ""
    with session_scope(message_log_engine(engine)) as session:  # found by station and by time as before
        assert session.exec(select(OcppMessageSpan.station_id)).all() == ["CS-1"]
        assert len(session.exec(select(OcppMessageBatch)).all()) == 1
    assert log.written == 4
    await log.aclose()
    assert _gone(pid, within=0.5)


async def test_a_helper_killed_leaves_its_batch_and_the_next_to_a_thread_with_the_same_pseudonyms(engine, caplog):
    log = _log(engine)
    _authorize(log, "a1")
    await log.flush()
    pid = _helper_pid(log)
    os.kill(pid, signal.SIGKILL)
    assert _gone(pid)
    _authorize(log, "a2")
    with caplog.at_level(logging.ERROR, logger="chargeca.ocpp.message_log"):
        await log.flush()
    assert "writer process ended (exit code -9)" in caplog.text and "on a thread from now on" in caplog.text
    stored = _stored(engine)
    assert [row.message_id for row in stored] == ["a1", "a1", "a2", "a2"] and log.written == 4
    assert stored[0].frame == stored[2].frame.replace('"a2"', '"a1"')  # one pseudonym for the token throughout
    assert log._process is None  # noqa: SLF001
    await log.aclose()


async def test_a_helper_that_cannot_start_leaves_the_writing_to_a_thread(engine, caplog, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    log = _log(engine)
    _authorize(log, "a1")
    with caplog.at_level(logging.ERROR, logger="chargeca.ocpp.message_log"):
        await log.flush()
    assert "writer process could not start" in caplog.text
    assert [row.message_id for row in _stored(engine)] == ["a1", "a1"] and log.written == 2
    await log.aclose()


async def test_a_batch_the_database_refuses_is_counted_lost_with_its_reason_and_the_helper_goes_on(tmp_path, caplog):
    empty = tmp_path / "no-tables.messages.db"
    log = MessageLog(MessageLogPolicy(), _on_a_thread(None), flush_interval=60, key=KEY,
                     in_process=lambda: ("sqlite", str(empty)))
    _authorize(log, "a1")
    with caplog.at_level(logging.WARNING, logger="chargeca.ocpp.message_log"):
        await log.flush()
    assert log.dropped["write_failed"] == 2 and log.written == 0
    assert "OperationalError: no such table: ocpp_message" in caplog.text
    pid = _helper_pid(log)
    tables = make_engine(f"sqlite:///{empty}")
    for table in (OcppMessage, OcppMessageSpan, OcppMessageBatch):
        table.__table__.create(tables)
    _authorize(log, "a2")
    await log.flush()
    assert _helper_pid(log) == pid and log.written == 2
    with session_scope(tables) as session:
        assert [row.message_id for row in session.exec(select(OcppMessage))] == ["a2", "a2"]
    tables.dispose()
    await log.aclose()


async def test_interrupts_to_the_process_group_leave_the_helper_writing_until_its_close(engine):
    log = _log(engine)
    _authorize(log, "a1")
    await log.flush()
    pid = _helper_pid(log)
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    _authorize(log, "a2")
    await log.flush()
    assert _helper_pid(log) == pid and [row.message_id for row in _stored(engine)] == ["a1", "a1", "a2", "a2"]
    await log.aclose()
    assert _gone(pid, within=0.5)


async def test_a_helper_that_hangs_is_killed_by_a_bounded_close(engine, caplog, monkeypatch):
    monkeypatch.setattr(writer_process, "CLOSE_WAIT", 0.3)
    log = _log(engine)
    _authorize(log, "a1")
    await log.flush()
    pid = _helper_pid(log)
    os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="chargeca.ocpp.message_log"):
        await log.aclose()
    assert time.monotonic() - started < 3 and _gone(pid)
    assert "did not end within 0.3 s of its close; killed" in caplog.text


@pytest.mark.parametrize("writes_in, in_a_process", [("process", True), ("thread", False)])
def test_the_gateway_writes_its_log_where_the_setting_says(ctx, writes_in, in_a_process):
    gateway = Gateway(ctx, GatewayConfig(message_log_writes_in=writes_in), routes={})
    assert (gateway.message_log._process is not None) is in_a_process  # noqa: SLF001


async def test_an_action_given_as_the_ocpp_packages_enum_is_stored_by_the_helper_as_its_name(engine):
    log = _log(engine)
    unlock = Call("u1", Action.unlock_connector, {"evseId": 1, "connectorId": 1})
    log.sent("CS-1", framing.serialize(unlock), unlock, Action.unlock_connector)
    await log.flush()
    pid = _helper_pid(log)
    (row,) = _stored(engine)
    assert row.action == "UnlockConnector" and '"UnlockConnector"' in row.frame
    await log.aclose()
    assert _gone(pid, within=0.5)


@pytest.mark.postgres
async def test_a_postgresql_connection_ended_between_batches_loses_no_batch(postgres_url):
    engine = make_engine(postgres_url)
    log = _log(engine)
    try:
        _authorize(log, "a1")
        await log.flush()
        pid = _helper_pid(log)
        with engine.connect() as admin:
            # This test's database only: other tests' helpers write to databases of their own.
            ended = admin.exec_driver_sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                          "WHERE application_name = %s AND datname = current_database()",
                                          (APPLICATION_NAME,)).scalar()
        assert ended == 1
        _authorize(log, "a2")
        await log.flush()
        assert _helper_pid(log) == pid and log.written == 4 and log.dropped["write_failed"] == 0
        assert [row.message_id for row in _stored(engine)] == ["a1", "a1", "a2", "a2"]
    finally:
        await log.aclose()
        engine.dispose()


def test_the_helpers_sqlite_connection_is_set_as_the_logs_engine_sets_its_own(tmp_path):
    # The WAL checkpoint above all: at SQLite's default the helper's commits let the log's WAL
    # grow five times as far as the thread's did.
    path = tmp_path / "log.db"
    engine = make_engine(f"sqlite:///{path}")
    OcppMessage.__table__.create(engine)
    OcppMessageSpan.__table__.create(engine)
    OcppMessageBatch.__table__.create(engine)
    database = LogDatabase("sqlite", str(path))
    database.append([("CS-1", "in", "CALL", "m1", "Heartbeat", time.time(), 20, "[2,\"m1\",\"Heartbeat\",{}]",
                      False)])
    pragmas = ("journal_mode", "synchronous", "busy_timeout", "wal_autocheckpoint", "foreign_keys")
    helper = {name: database._connection.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: SLF001
              for name in pragmas}
    with engine.connect() as connection:
        own = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in pragmas}
    database.close()
    engine.dispose()
    assert helper == own
    assert helper["wal_autocheckpoint"] == 200
