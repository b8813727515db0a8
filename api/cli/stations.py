"""`chargeca station …`: the station registry, its kill switch, credentials and logged frames."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from api.cli.common import (
    EXIT_USAGE,
    TEXT_FILE_MAX,
    CliError,
    Command,
    context_of,
    integer,
    officer,
    print_row,
    read_bytes,
)
from api.operations.stations import (
    add_station,
    delete_station,
    disable_station,
    enable_station,
    list_stations,
    set_security_profile,
    set_station_password,
)
from storage.db import read_scope
from storage.message_log import MessageQuery, frames, message_log_engine
from storage.types import as_utc


def cmd_station_add(args: argparse.Namespace) -> None:
    password = _stdin_password() if args.password_stdin else None
    created = add_station(context_of(args), officer(), args.id,
                                     security_profile=args.security_profile, password=password)
    print(f"station {created.station.id} registered (security profile {created.station.security_profile})")
    if created.password:
        print(f"Basic-auth password (shown once, store it in the station): {created.password}")


def cmd_station_list(args: argparse.Namespace) -> None:
    for station in list_stations(context_of(args)):
        print_row(station.id, f"profile={station.security_profile}", f"enabled={station.enabled}")


def cmd_station_messages(args: argparse.Namespace) -> None:
    """The newest logged OCPP frames of one station, printed oldest first (README "OCPP message log")."""
    if args.since is not None and args.until is not None and args.since >= args.until:
        # --until is excluded: the window selects nothing, which would read as a silent station.
        raise CliError(f"--since ({args.since.isoformat()}) must be before --until ({args.until.isoformat()})",
                       EXIT_USAGE)
    criteria = MessageQuery(station_id=args.id, action=args.action, direction=args.direction, kind=args.kind,
                            message_id=args.message_id, since=args.since, until=args.until)
    with read_scope(message_log_engine(context_of(args).engine)) as session:
        rows = frames(session, criteria, newest_first=True, beyond=None, limit=args.limit)
    for row in reversed(rows):
        print_row(row.id, row.at.isoformat(), row.direction, row.kind, row.action or "-", row.message_id or "-",
                  f"{row.frame}{' [truncated]' if row.truncated else ''}")


def _aware_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. {text}Z or {text}+00:00)")
    try:
        return as_utc(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text} {exc}") from None


def cmd_station_disable(args: argparse.Namespace) -> None:
    disable_station(context_of(args), officer(), args.id, args.reason)
    print(f"station {args.id} disabled; a running service closes its connections within "
          "[sessions] disconnect_poll_seconds")


def cmd_station_enable(args: argparse.Namespace) -> None:
    enable_station(context_of(args), officer(), args.id)
    print(f"station {args.id} enabled")


def cmd_station_delete(args: argparse.Namespace) -> None:
    revoked = delete_station(context_of(args), officer(), args.id, args.reason)
    print(f"station {args.id} deleted; {len(revoked)} certificate(s) revoked (cessationOfOperation)"
          + "".join(f"\n  {serial}" for serial in revoked))


def _first_line(text: str) -> str:
    lines = text.splitlines()
    return lines[0] if lines else ""


def _stdin_password() -> str:
    # A line, not all of it: a stdin with no newline (< /dev/zero) is read no further than this.
    return _first_line(sys.stdin.readline(TEXT_FILE_MAX))


def _read_password(args: argparse.Namespace) -> str:
    # Never from the command line: argv is visible to every user of the machine (ps, /proc).
    if not args.password_file:
        return _stdin_password()
    try:
        return _first_line(read_bytes(args.password_file, "password file").decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CliError(f"cannot read password file {args.password_file}: {exc}") from exc


def cmd_station_set_password(args: argparse.Namespace) -> None:
    set_station_password(context_of(args), officer(), args.id, _read_password(args))
    print(f"station {args.id}: Basic-auth password set")


def cmd_station_set_profile(args: argparse.Namespace) -> None:
    station = set_security_profile(context_of(args), officer(), args.id, args.profile, args.reason)
    print(f"station {station.id}: security profile {station.security_profile}")


def add_commands(commands: argparse._SubParsersAction, command: Command) -> None:
    """station (add, list, disable, enable, delete, set-password, set-profile, messages)."""
    station = commands.add_parser("station", help="station registry").add_subparsers(
        dest="station_command", required=True, metavar="ACTION")
    add = command("add", cmd_station_add, "register a station", station)
    add.add_argument("id", help="OCPP identity (<= 48 characters, no ':')")
    add.add_argument("--security-profile", type=int, choices=(1, 2, 3), default=2)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the Basic-auth password from stdin instead of generating one")
    command("list", cmd_station_list, "list stations", station)
    disable = command("disable", cmd_station_disable, "kill switch: refuse the station and close its "
                      "connections", station)
    disable.add_argument("id")
    disable.add_argument("--reason", help="kept in the audit log")
    command("enable", cmd_station_enable, "let a disabled station connect again", station).add_argument("id")
    remove = command("delete", cmd_station_delete, "delete a station: revoke its certificates, close its "
                     "connections", station)
    remove.add_argument("id")
    remove.add_argument("--reason", help="kept in the audit log")
    set_password = command("set-password", cmd_station_set_password, "set a given Basic-auth password (e.g. "
                           "factory provisioning), read from stdin or a file, never from the command line", station)
    set_password.add_argument("id")
    source = set_password.add_mutually_exclusive_group(required=True)
    source.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    source.add_argument("--password-file", metavar="FILE", help="read the password from FILE (first line)")
    set_profile = command("set-profile", cmd_station_set_profile, "the security profile the station must use; "
                          "lowering needs --reason", station)
    set_profile.add_argument("id")
    set_profile.add_argument("profile", type=int, choices=(1, 2, 3))
    set_profile.add_argument("--reason", help="required to lower the profile; kept in the audit log")
    messages = command("messages", cmd_station_messages, "the station's logged OCPP frames, redacted, oldest of "
                       "the newest --limit first", station)
    messages.add_argument("id")
    messages.add_argument("--action", help="e.g. BootNotification; an answer carries its CALL's action")
    messages.add_argument("--direction", choices=("in", "out"), help="in: from the station; out: to it")
    messages.add_argument("--kind", choices=("CALL", "CALLRESULT", "CALLERROR", "MALFORMED"))
    messages.add_argument("--message-id", help="a CALL and its answer share it")
    messages.add_argument("--since", type=_aware_time, help="ISO 8601 time with a zone (server clock)")
    messages.add_argument("--until", type=_aware_time, help="ISO 8601 time with a zone, excluded")
    messages.add_argument("--limit", type=integer(1), default=50)
