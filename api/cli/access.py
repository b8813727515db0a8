"""`chargeca token …` and `audit …`: REST API tokens and the audit log."""

from __future__ import annotations

import argparse

from sqlmodel import select

from api.cli.common import CliError, Command, context_of, integer, officer, print_row
from api.core.audit import ROLES
from api.operations.tokens import VALID_DAYS_MAX, create_token, revoke_token
from storage import audit
from storage.db import session_scope
from storage.filters import where_given


def cmd_token_create(args: argparse.Namespace) -> None:
    created = create_token(context_of(args), officer(), args.role, args.name or f"{args.role} token", args.valid_days)
    until = "" if created.record.expires_at is None else f", expires {created.record.expires_at.isoformat()}"
    print(f"token id {created.record.id} (role {created.record.role}{until}); shown once:")
    print(created.token)


def cmd_token_revoke(args: argparse.Namespace) -> None:
    revoke_token(context_of(args), officer(), args.id)
    print(f"token {args.id} revoked")


def cmd_audit_verify(args: argparse.Namespace) -> None:
    ctx = context_of(args)
    with session_scope(ctx.engine) as session:
        report = audit.verify_chain(session)
    if not report.ok:
        raise CliError(f"audit chain broken at entry {report.first_bad_seq}: {report.problem}")
    print(f"audit chain intact: {report.entries} entries, head {report.head_hash}")


def cmd_audit_list(args: argparse.Namespace) -> None:
    ctx = context_of(args)
    entry = audit.AuditEntry
    query = where_given(select(entry), (entry.actor, args.actor), (entry.action, args.action),
                        (entry.target, args.target))
    with session_scope(ctx.engine) as session:
        rows = session.exec(query.order_by(entry.seq.desc()).limit(args.limit)).all()
    for row in reversed(rows):
        print_row(row.seq, row.at.isoformat(), row.actor, row.action, row.target, row.outcome, row.detail)


def add_commands(commands: argparse._SubParsersAction, command: Command) -> None:
    """token (create, revoke), audit (verify, list)."""
    token = commands.add_parser("token", help="REST API tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION")
    create = command("create", cmd_token_create, "create an API token (shown once)", token)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name")
    create.add_argument("--valid-days", type=integer(1, VALID_DAYS_MAX),
                        help="days until it stops working (default: until revoked)")
    token_revoke = command("revoke", cmd_token_revoke, "revoke an API token", token)
    token_revoke.add_argument("id")

    audit_parser = commands.add_parser("audit", help="audit log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION")
    command("verify", cmd_audit_verify, "verify the audit log's hash chain", audit_parser)
    audit_list = command("list", cmd_audit_list, "show the newest audit entries (oldest of them first)", audit_parser)
    audit_list.add_argument("--limit", type=integer(1), default=50)
    # The filters of GET /api/v1/audit, exact values.
    audit_list.add_argument("--actor", help="e.g. token:<id>, cli:<user>")
    audit_list.add_argument("--action", help="e.g. station.disable")
    audit_list.add_argument("--target", help="what was acted on, e.g. a station's id")
