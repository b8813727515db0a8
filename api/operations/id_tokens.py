"""Id-token operations (add, change, delete, import, export, master-pass group), each audited.

REST and the CLI call these and nothing else, so a token changes by the same rules and leaves
the same audit entry whichever door it came through. An import is one audit entry with its
counts, not one per row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from api.core.audit import Actor, audited, require_station, run_in_session
from api.core.context import Context
from api.csms.authorization import service
from api.csms.authorization.service import CSMS_WIDE, ImportCounts, TokenFilter
from api.csms.authorization.token_records import (
    FieldProblem,
    as_json,
    changed,
    group_text,
    of_row,
    rows_from_csv,
    rows_from_json,
    to_csv,
    token_fields,
)

# One import request at most: rows, and bytes of the file (the REST body limit of the import route).
IMPORT_ROWS_MAX = 50_000
IMPORT_BYTES_MAX = 16 * 1024 * 1024
CSV, JSON = "csv", "json"  # the file kinds import reads and export writes


def _target(row: Any) -> str:
    return f"{row.type}:{row.id_token}"[:200]


def add_token(ctx: Context, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
    target = f"{data.get('type')}:{data.get('id_token')}"[:200]
    with audited(ctx, actor, "id_token.add", target) as (session, detail):
        row = service.add_token(session, token_fields(data))
        detail.update(status=row.status, id=row.id)
        return as_json(row)


def change_token(ctx: Context, actor: Actor, token_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    with audited(ctx, actor, "id_token.change", str(token_id)) as (session, detail):
        row = service.get_token(session, token_id)
        detail.update(token=_target(row), fields=sorted(changes))
        service.update_token(session, row, changed(of_row(row), changes))
        return as_json(row)


def delete_token(ctx: Context, actor: Actor, token_id: int) -> dict[str, Any]:
    with audited(ctx, actor, "id_token.delete", str(token_id)) as (session, detail):
        row = service.get_token(session, token_id)
        shown = as_json(row)
        detail["token"] = _target(row)
        service.delete_token(session, row)
        return shown


def get_token(ctx: Context, token_id: int) -> dict[str, Any]:
    return run_in_session(ctx, lambda s: as_json(service.get_token(s, token_id)))


def find_id(ctx: Context, token_type: str, value: str) -> int:
    """The row id of the token ``value`` of ``token_type`` (how the CLI names a token)."""
    row = run_in_session(ctx, lambda s: service.find_token(s, value, token_type))
    if row is None:
        raise LookupError(f"no {token_type} token {value!r}")
    return row.id


def parse_import(text: str, kind: str) -> list[Mapping[str, Any]]:
    if kind not in (CSV, JSON):
        raise FieldProblem("content-type", "import reads text/csv or application/json")
    rows = rows_from_csv(text) if kind == CSV else rows_from_json(text)
    if len(rows) > IMPORT_ROWS_MAX:
        raise FieldProblem("body", f"more than {IMPORT_ROWS_MAX} tokens in one import; split the file")
    return rows


def import_tokens(ctx: Context, actor: Actor, text: str, kind: str) -> ImportCounts:
    """All rows or none (service.import_tokens); one audit entry either way."""
    with audited(ctx, actor, "id_token.import", kind) as (session, detail):
        detail["bytes"] = len(text)
        rows = parse_import(text, kind)
        detail["rows"] = len(rows)
        counts = service.import_tokens(session, rows)
        detail.update(created=counts.created, updated=counts.updated)
        return counts


def list_tokens(ctx: Context, where: TokenFilter, *, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    return run_in_session(ctx, lambda s: [as_json(r) for r in service.list_tokens(s, where, offset=offset,
                                                                                     limit=limit)])


def export_tokens(ctx: Context, where: TokenFilter, kind: str) -> str:
    rows = run_in_session(ctx, lambda s: service.list_tokens(s, where))
    if kind == CSV:
        return to_csv(rows)
    return json.dumps({"tokens": [as_json(r) for r in rows]}, indent=1)


def set_master_pass_group(ctx: Context, actor: Actor, group_id_token: str | None,
                          station_id: str | None = None) -> dict[str, str]:
    """AuthCtrlr.MasterPassGroupId for every station (``station_id`` None) or one; None clears it.
    A token whose groupIdToken equals it is a master pass there (C16)."""
    scope = station_id or CSMS_WIDE
    with audited(ctx, actor, "id_token.master_pass_group", station_id or "*") as (session, detail):
        if station_id == "":   # not "every station": that is null (REST) or no --station (CLI)
            raise FieldProblem("station_id", "must not be empty; leave it out for every station")
        if station_id is not None:   # a misspelt id would hold a group no station ever reads
            require_station(session, station_id)
        if group_id_token is not None:   # held to what a groupIdToken may be, or no token could match it
            group_text("group_id_token", group_id_token)
        detail["group_id_token"] = group_id_token
        service.set_master_pass_group(session, scope, group_id_token)
    return master_pass_groups(ctx)


def master_pass_groups(ctx: Context) -> dict[str, str]:
    """Scope ('*' for every station, else a station id) → MasterPassGroupId."""
    return {scope or "*": group for scope, group in run_in_session(ctx, service.master_pass_groups).items()}

