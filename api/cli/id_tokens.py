"""`chargeca id-token …`: the id tokens the CSMS authorizes (block C), one by one or by file."""

from __future__ import annotations

import argparse
import sys

from api.cli.common import (
    EXIT_USAGE,
    CliError,
    Command,
    context_of,
    integer,
    officer,
    print_row,
    read_bytes,
    write_text,
)
from api.csms.authorization.service import TokenFilter
from api.csms.authorization.token_records import MESSAGE_FORMATS, STATUSES, TOKEN_TYPES
from api.operations import id_tokens

_TOKEN_OPTIONS = ("status", "cache_expiry", "group_id_token", "group_type", "evse_ids", "language1", "language2",
                  "message_format", "message_language", "message_content", "local_list")


def _token_options(args: argparse.Namespace) -> dict[str, str | None]:
    """The options given; an empty string clears the field (``set``)."""
    given = {name: getattr(args, name) for name in _TOKEN_OPTIONS if getattr(args, name) is not None}
    return {name: (value if value != "" else None) for name, value in given.items()}


def _token_cells(token: dict) -> list:
    extras = [f"{name}={token[name]}" for name in ("group_id_token", "cache_expiry", "evse_ids", "local_list")
              if token[name] is not None]
    return [token["id"], token["type"], token["id_token"], token["status"], *extras]


def cmd_id_token_list(args: argparse.Namespace) -> None:
    where = TokenFilter(id_token=args.id_token, type=args.type, status=args.status)
    for token in id_tokens.list_tokens(context_of(args), where, limit=args.limit):
        print_row(*_token_cells(token))


def cmd_id_token_add(args: argparse.Namespace) -> None:
    token = id_tokens.add_token(context_of(args), officer(), {"type": args.type, "id_token": args.value,
                                                          **_token_options(args)})
    print(f"id token {token['type']} {token['id_token']} added (id {token['id']}, {token['status']})")


def cmd_id_token_set(args: argparse.Namespace) -> None:
    ctx = context_of(args)
    changes = _token_options(args)
    if not changes:
        raise CliError("nothing to change: give at least one option", EXIT_USAGE)
    token = id_tokens.change_token(ctx, officer(), id_tokens.find_id(ctx, args.type, args.value), changes)
    print(f"id token {token['type']} {token['id_token']} changed: {', '.join(sorted(changes))}")


def cmd_id_token_delete(args: argparse.Namespace) -> None:
    ctx = context_of(args)
    token = id_tokens.delete_token(ctx, officer(), id_tokens.find_id(ctx, args.type, args.value))
    print(f"id token {token['type']} {token['id_token']} deleted")


def _file_kind(path: str, given: str | None) -> str:
    return given or ("csv" if path.lower().endswith(".csv") else "json")


def cmd_id_token_import(args: argparse.Namespace) -> None:
    raw = read_bytes(args.file, "id token file", id_tokens.IMPORT_BYTES_MAX)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CliError(f"cannot read {args.file}: {exc}") from exc
    counts = id_tokens.import_tokens(context_of(args), officer(), text, _file_kind(args.file, args.format))
    print(f"imported {counts.rows} id token(s): {counts.created} added, {counts.updated} replaced")


def cmd_id_token_export(args: argparse.Namespace) -> None:
    kind = _file_kind(args.out or "", args.format)
    text = id_tokens.export_tokens(context_of(args), TokenFilter(), kind)
    if args.out:
        write_text(args.out, text)
    else:
        sys.stdout.write(text)


def cmd_id_token_master_pass(args: argparse.Namespace) -> None:
    if args.clear and args.group is not None:   # --clear won, silently taking the group given away
        raise CliError("give GROUP or --clear, not both", EXIT_USAGE)
    if not args.clear and args.group is None:
        raise CliError("give GROUP or --clear", EXIT_USAGE)
    group = args.group
    id_tokens.set_master_pass_group(context_of(args), officer(), group, args.station)
    print(f"master-pass group of {args.station or 'every station'}: {group or 'cleared'}")


def add_commands(commands: argparse._SubParsersAction, command: Command) -> None:
    """id-token (list, add, set, delete, import, export, master-pass)."""
    id_token = commands.add_parser("id-token", help="id tokens the CSMS authorizes (block C)").add_subparsers(
        dest="id_token_command", required=True, metavar="ACTION")

    def token_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("type", choices=TOKEN_TYPES, help="IdTokenEnumType")
        sub.add_argument("value", help="the idToken (<= 36 characters, case-insensitive)")
        sub.add_argument("--status", choices=STATUSES)
        sub.add_argument("--cache-expiry", dest="cache_expiry", metavar="ISO8601", help="e.g. 2030-01-01T00:00:00Z")
        sub.add_argument("--group", dest="group_id_token", metavar="ID", help="groupIdToken")
        sub.add_argument("--group-type", dest="group_type", choices=TOKEN_TYPES)
        sub.add_argument("--evse", dest="evse_ids", metavar="IDS", help="allowed EVSE ids, e.g. 1;2")
        sub.add_argument("--language1")
        sub.add_argument("--language2")
        sub.add_argument("--message-format", dest="message_format", choices=MESSAGE_FORMATS)
        sub.add_argument("--message-language", dest="message_language")
        sub.add_argument("--message", dest="message_content", help="personalMessage content")
        sub.add_argument("--local-list", dest="local_list", metavar="GLOB",
                         help="stations whose local list carries it, e.g. '*' or 'DEPOT-A-*'")

    listing = command("list", cmd_id_token_list, "list id tokens", id_token)
    listing.add_argument("--type", choices=TOKEN_TYPES)
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--id-token", dest="id_token", help="tokens starting with this")
    listing.add_argument("--limit", type=integer(1), default=None)
    token_options(command("add", cmd_id_token_add, "add an id token", id_token))
    token_options(command("set", cmd_id_token_set, "change fields of an id token (an empty value clears one)",
                          id_token))
    remove = command("delete", cmd_id_token_delete, "delete an id token", id_token)
    remove.add_argument("type", choices=TOKEN_TYPES)
    remove.add_argument("value")
    importing = command("import", cmd_id_token_import, "add or replace id tokens from a CSV or JSON file, all "
                        "or nothing", id_token)
    importing.add_argument("file", help="the file, or - for stdin")
    importing.add_argument("--format", choices=("csv", "json"), help="default: by the file's extension")
    exporting = command("export", cmd_id_token_export, "write every id token as CSV or JSON", id_token)
    exporting.add_argument("--out", metavar="FILE", help="default: stdout")
    exporting.add_argument("--format", choices=("csv", "json"), help="default: by --out's extension, else json")
    master = command("master-pass", cmd_id_token_master_pass, "set the MasterPassGroupId (C16) of every "
                     "station or of one", id_token)
    master.add_argument("group", nargs="?", help="the group idToken")
    master.add_argument("--station", help="only this station")
    master.add_argument("--clear", action="store_true", help="remove it")
