"""`chargeca`: the command line of security officers and automation. One module per group of
commands (each adds its own subcommands); here the parser they share and the exit codes.

Exit codes: 0 done; 1 refused (the message names the rule); 2 bad usage; 3 not set up
(no PKI, no passphrase, bad config); 4 database unavailable; as the shell reports a signal's
stop, 130 interrupted (Ctrl-C) and 141 the output's reader gone (SIGPIPE).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from api.cli import access, authorities, firmware, id_tokens, service, stations
from api.cli.common import EXIT_DATABASE, EXIT_REFUSED, EXIT_SETUP, EXIT_USAGE, CliError, shown
from api.core.refusal import Refusal
from api.core.settings import SettingsError
from api.core.text import LONE_SURROGATE
from pki.authorities import PkiNotInitialized
from pki.keystore import KeyStoreError
from pki.lint import LintError
from policies.loader import PolicyError
from storage.db import DatabaseUnavailable

__all__ = ["EXIT_DATABASE", "EXIT_REFUSED", "EXIT_SETUP", "EXIT_USAGE", "build_parser", "main"]

# In the order `chargeca --help` lists them.
_GROUPS = (service, authorities, stations, access, id_tokens, firmware)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chargeca", description="ChargeCA: PKI and CSMS security for OCPP 2.0.1")
    parser.add_argument("--version", action="version", version=f"chargeca {metadata.version('chargeca')}")
    parser.add_argument("--data", help="data directory (default: $CHARGECA_DATA or ./chargeca-data)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], None], help_text: str,
                parent=commands) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    for group in _GROUPS:
        group.add_commands(commands, command)
    return parser


# Errors that carry no rule yet still refuse the request (not a crash): the message alone.
_REFUSALS = (LintError, LookupError, ValueError)
_SETUP = (PkiNotInitialized, SettingsError, KeyStoreError, PolicyError)


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever this process creates (database and its -wal/-shm, token and config files, the data
    # directory) is its owner's alone: they hold password and token hashes and the audit log.
    os.umask(0o077)
    arguments = sys.argv[1:] if argv is None else list(argv)
    for position, argument in enumerate(arguments, start=1):
        # Bytes that are no UTF-8 arrive as lone surrogates (surrogateescape): no column or
        # station identity can hold them.
        if LONE_SURROGATE.search(argument):
            return _fail(f"argument {position} ({_bytes_of(argument)}) is not valid UTF-8 text", EXIT_USAGE)
    args = build_parser().parse_args(arguments)
    try:
        args.handler(args)
        sys.stdout.flush()   # here, where a reader gone away is caught, rather than at exit
    except CliError as exc:
        return _fail(str(exc), exc.code)
    except DatabaseUnavailable as exc:
        return _fail(f"database unavailable: {exc}", EXIT_DATABASE)
    except _SETUP as exc:
        return _fail(str(exc), EXIT_SETUP)
    except Refusal as exc:
        return _fail(f"{exc.rule}: {exc}", EXIT_REFUSED)
    except _REFUSALS as exc:
        return _fail(str(exc), EXIT_REFUSED)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of the output went away (`chargeca audit list | head`): end as a process
        # SIGPIPE ends, 128 + 13, quietly, and leave Python's exit no output to flush, whose
        # failure printed a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0


def _bytes_of(argument: str) -> str:
    """``argument`` as the bytes it came as, when it came from the command line."""
    try:
        return repr(argument.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:   # a surrogate no undecodable byte makes (main called with it)
        return ascii(argument)


def _fail(message: str, code: int) -> int:
    # One line, whatever the message repeats of what was given or stored.
    print(f"chargeca: error: {shown(message)}", file=sys.stderr)
    return code
