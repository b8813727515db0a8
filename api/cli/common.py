"""What every `chargeca` command shares: its exit codes, its error, who runs it, its settings."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.core.audit import Actor
from api.core.context import Context, open_context
from api.core.settings import Settings, load_settings
from storage.types import INT32_MAX

EXIT_REFUSED, EXIT_USAGE, EXIT_SETUP, EXIT_DATABASE = 1, 2, 3, 4

# ``command(name, handler, help, parent)``: a subcommand of ``parent`` that runs ``handler`` (main's).
Command = Callable[..., argparse.ArgumentParser]


def integer(low: int, high: int = INT32_MAX) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``. A number beyond its database
    column reached the driver and came back as a traceback (SQLite's OverflowError); read with
    its bounds, it is a usage error naming the option (EXIT_USAGE)."""
    return _bounded(int, "a whole number", low, high, "integer")


def number(low: float, high: float) -> Callable[[str], float]:
    """An argparse ``type``: a number from ``low`` to ``high``, as ``integer`` is for whole ones.
    NaN and the infinities are none (a NaN compares false with either bound)."""
    return _bounded(float, "a number", low, high, "number")


def _bounded(convert: Callable[[str], Any], what: str, low: Any, high: Any, name: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not between {low} and {high}")
        return value

    parse.__name__ = name   # argparse names the type in its messages
    return parse


ROW_ID = integer(1)
COUNT = integer(0)


def shown(value: object) -> str:
    """``value`` as printed text: every character that is not printable (a newline or tab, an
    escape sequence's ESC, a C1 control such as CSI, a bidirectional override) as its Python
    escape. What is printed comes from stations and REST clients too (an audited target, a
    logged frame): printed raw, a newline forged a line of its own in `audit list` and an escape
    sequence ran in the officer's terminal."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def print_row(*cells: object) -> None:
    """One line of a listing: its cells, each ``shown``, separated by tabs."""
    print("\t".join(shown(cell) for cell in cells))


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.code = code


def officer() -> Actor:
    """Who the audit log names for a CLI action."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "unknown"
    # Whoever runs the CLI holds the data directory and the key passphrase: an officer.
    return Actor(f"cli:{user}", "officer")


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(args.data)


def context_of(args: argparse.Namespace, **kwargs) -> Context:
    return open_context(settings_of(args), **kwargs)


# What a command reads of a PEM, a signature or a password file: far more than any holds.
TEXT_FILE_MAX = 1 << 20


def read_bytes(path: str, what: str, limit: int = TEXT_FILE_MAX) -> bytes:
    """The content of ``path`` (``-``: stdin), at most ``limit`` bytes; CliError naming ``what``
    otherwise. Never more: read whole before its size was checked, /dev/zero or a disk image
    given by mistake ran the machine out of memory."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as source:
                data = source.read(limit + 1)
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc}") from exc
    if len(data) > limit:
        raise CliError(f"{what} {path} is larger than {limit} bytes")
    return data


def read_text(path: str, what: str) -> str:
    """The ASCII text of ``path`` (``-``: stdin), e.g. a PEM; CliError naming ``what`` otherwise."""
    try:
        return read_bytes(path, what).decode("ascii")
    except UnicodeDecodeError as exc:
        raise CliError(f"cannot read {what} {path}: {exc}") from exc


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (an ``--out`` file); CliError naming it otherwise: a missing
    directory, a directory, no permission get a message, not a traceback."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc
