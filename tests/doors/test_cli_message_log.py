"""`chargeca station messages`: a station's logged frames from the command line, filtered."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from chargeca_process import chargeca
from cli_support import acme_init, cli_env, copy_init  # noqa: F401 - fixture

from storage.db import make_engine, session_scope
from storage.message_log import insert_rows, message_log_engine
from storage.types import utcnow


def _log_frames(data: Path) -> None:
    engine = make_engine(f"sqlite:///{data / 'chargeca.db'}")
    def ago(minutes: int):
        return (utcnow() - timedelta(minutes=minutes)).timestamp()

    with session_scope(message_log_engine(engine)) as session:
        insert_rows(session, [
            ("CLI-1", "in", "CALL", "m1", "Heartbeat", ago(3), 25, '[2,"m1","Heartbeat",{}]', False),
            ("CLI-1", "out", "CALLRESULT", "m1", "Heartbeat", ago(3), 20, '[3,"m1",{}]', False),
            ("CLI-2", "in", "CALL", "m2", "Heartbeat", ago(2), 25, '[2,"m2","Heartbeat",{}]', False),
            ("CLI-1", "in", "CALL", "m3", "DataTransfer", ago(1), 9000, '[2,"m3","DataTr', True)])
    engine.dispose()


def _messages(data: Path, *arguments: str) -> list[list[str]]:
    result = chargeca("station", "messages", *arguments, env=cli_env(data), timeout=60)
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines()]


def test_station_messages_prints_the_stations_frames_oldest_first_and_filters_them(acme_init, tmp_path):
    data = tmp_path / "data"
    copy_init(acme_init, data)
    _log_frames(data)

    lines = _messages(data, "CLI-1")
    assert [(line[2], line[3], line[4], line[5]) for line in lines] == [
        ("in", "CALL", "Heartbeat", "m1"), ("out", "CALLRESULT", "Heartbeat", "m1"),
        ("in", "CALL", "DataTransfer", "m3")]
    assert lines[0][6] == '[2,"m1","Heartbeat",{}]' and lines[2][6].endswith("[truncated]")
    assert [line[5] for line in _messages(data, "CLI-1", "--direction", "in", "--limit", "1")] == ["m3"]
    assert [line[5] for line in _messages(data, "CLI-1", "--action", "Heartbeat", "--kind", "CALLRESULT")] == ["m1"]
    since = (utcnow() - timedelta(seconds=90)).isoformat()
    assert [line[5] for line in _messages(data, "CLI-1", "--since", since)] == ["m3"]
    refused = chargeca("station", "messages", "CLI-1", "--since", "2025-01-01T00:00:00", env=cli_env(data),
                       timeout=60)
    assert refused.returncode == 2 and "time zone" in refused.stderr
    beyond = chargeca("station", "messages", "CLI-1", "--until", "0001-01-01T00:00:00+14:00", env=cli_env(data),
                      timeout=60)
    assert beyond.returncode == 2 and "years 1 to 9999" in beyond.stderr and "Traceback" not in beyond.stderr


def test_a_window_that_ends_before_it_starts_is_a_usage_error_not_an_empty_answer(acme_init, tmp_path):
    # Swapped dates selected nothing and exited 0: read as "the station said nothing then".
    data = tmp_path / "data"
    copy_init(acme_init, data)
    _log_frames(data)
    swapped = chargeca("station", "messages", "CLI-1", "--since", "2030-01-01T00:00:00Z",
                       "--until", "2020-01-01T00:00:00Z", env=cli_env(data), timeout=60)
    assert swapped.returncode == 2 and "--since" in swapped.stderr and "Traceback" not in swapped.stderr


def test_a_stations_control_characters_are_printed_escaped(acme_init, tmp_path):  # noqa: F811
    # What a station sends is kept as sent (a broken frame raw): printed so, its escape sequences
    # ran in the officer's terminal and its newlines made lines of their own.
    data = tmp_path / "data"
    copy_init(acme_init, data)
    engine = make_engine(f"sqlite:///{data / 'chargeca.db'}")
    with session_scope(message_log_engine(engine)) as session:
        insert_rows(session, [("CLI-3", "in", "MALFORMED", "m\x1b]0;x\x07", None, utcnow().timestamp(), 12,
                               '[2,"m4"\n\x1b[2J\x9b\u2028', False)])
    engine.dispose()
    assert _messages(data, "CLI-3")[0][5:] == ["m\\x1b]0;x\\x07", '[2,"m4"\\n\\x1b[2J\\x9b\\u2028']
