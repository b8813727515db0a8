"""Hostile arguments on the command line, each a usage error (exit 2) naming the argument.

Integers: every one is read with bounds (api/cli/common.integer), so a number no database column
holds is refused by argparse; before, `chargeca audit list --limit 9223372036854775808` and
`chargeca firmware campaign show 9223372036854775808` ended in SQLite's OverflowError traceback.
Text: an argument whose bytes are no UTF-8 is refused before any command runs."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest
from chargeca_process import chargeca
from cli_support import acme_init, cli_env, copy_init  # noqa: F401 - fixture

from api.cli import build_parser
from api.cli.common import EXIT_USAGE


def _arguments(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _arguments(sub, (*path, name))
        else:
            yield " ".join(path), action


def test_every_integer_option_is_read_with_bounds():
    plain = [f"{command} {action.dest}" for command, action in _arguments(build_parser())
             if action.type is int and not action.choices]
    assert plain == []


def test_every_number_option_is_read_with_bounds():
    # `simulate --heartbeat 0` sent heartbeats in a loop without a pause; `--duration nan` ran for no time.
    assert [f"{command} {action.dest}" for command, action in _arguments(build_parser()) if action.type is float] == []


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e400", "ten"])
def test_a_number_out_of_bounds_is_a_usage_error_naming_the_option(tmp_path, value):
    result = chargeca("simulate", "--heartbeat", value, env=cli_env(tmp_path / "data"), timeout=60)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "argument --heartbeat:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("arguments, option", [
    (("audit", "list", "--limit", "9223372036854775808"), "--limit"),
    (("firmware", "campaign", "show", "9223372036854775808"), "id"),
    (("firmware", "campaign", "stop", "2147483648"), "id"),
    (("firmware", "campaign", "create", "1", "--max-failures", "-1"), "--max-failures"),
    (("id-token", "list", "--limit", "ten"), "--limit"),
])
def test_an_integer_out_of_bounds_is_a_usage_error_naming_the_option(acme_init, tmp_path, arguments, option):
    data = tmp_path / "data"
    copy_init(acme_init, data)
    result = chargeca(*arguments, env=cli_env(data), timeout=60)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert f"argument {option}:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("argument", [b"A\xffB", b"\xc3(", b"CS-\xed\xa0\x80"])
def test_an_argument_that_is_no_utf8_is_a_usage_error_naming_it(acme_init, tmp_path, argument):
    """Bytes that are no UTF-8 reached the database as lone surrogates: an encoding error
    instead of a refusal, or a value no PostgreSQL text column holds."""
    data = tmp_path / "data"
    copy_init(acme_init, data)
    # As the interpreter reads such bytes from argv (surrogateescape).
    result = chargeca("station", "disable", argument.decode("utf-8", "surrogateescape"), env=cli_env(data), timeout=60)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert f"argument 3 ({argument!r}) is not valid UTF-8 text" in result.stderr


def test_an_error_naming_a_control_character_is_still_one_line(acme_init, tmp_path):  # noqa: F811
    # The message repeats what was given: a newline in it made two lines, an escape sequence
    # ran in the officer's terminal.
    data = tmp_path / "data"
    copy_init(acme_init, data)
    result = chargeca("crl", "--ca", "x\nchargeca: done\x1b[1A", env=cli_env(data), timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == ["chargeca: error: ca.unknown: no certificate authority "
                                          "x\\nchargeca: done\\x1b[1A"]
