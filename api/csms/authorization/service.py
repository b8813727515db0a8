"""The token verdict: what the CSMS answers about an idToken (C01, C09, C12, C16), and the token
store's database work that every door shares (no OCPP, no audit: api/operations/id_tokens.py).

Used by Authorize and by every TransactionEvent that carries an idToken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocpp.v201.enums import AuthorizationStatusEnumType, IdTokenEnumType
from sqlalchemy import delete
from sqlmodel import Session, select

from api.core.refusal import Conflict, Refusal
from api.csms.authorization.token_records import FieldProblem, TokenFields, token_fields
from storage.id_tokens import IdToken, MasterPassGroup
from storage.types import utcnow

ACCEPTED = AuthorizationStatusEnumType.accepted.value
CSMS_WIDE = ""   # the MasterPassGroup scope of every station without one of its own


def find_token(session: Session, value: str, token_type: str) -> IdToken | None:
    return session.exec(select(IdToken).where(IdToken.lookup == value.lower(), IdToken.type == token_type)).first()


def master_pass_group(session: Session, station_id: str) -> str | None:
    """The MasterPassGroupId that holds at ``station_id``: its own, else the CSMS-wide one."""
    rows = {row.scope: row.group_id_token for row in session.exec(
        select(MasterPassGroup).where(MasterPassGroup.scope.in_([station_id, CSMS_WIDE])))}
    return rows.get(station_id, rows.get(CSMS_WIDE))


def is_master_pass(session: Session, station_id: str, row: IdToken) -> bool:
    group = master_pass_group(session, station_id)
    return bool(group and row.group_id_token and row.group_id_token.lower() == group.lower())


def info_of(row: IdToken) -> dict[str, Any]:
    """The stored token as an IdTokenInfoType, status as stored (what a local list carries)."""
    info: dict[str, Any] = {"status": row.status}
    if row.cache_expiry is not None:
        info["cacheExpiryDateTime"] = row.cache_expiry.isoformat().replace("+00:00", "Z")
    if row.group_id_token:
        info["groupIdToken"] = {"idToken": row.group_id_token, "type": row.group_type or IdTokenEnumType.central.value}
    if row.evse_ids:
        info["evseId"] = list(row.evse_ids)
    for name, key in (("language1", "language1"), ("language2", "language2")):
        if getattr(row, name):
            info[key] = getattr(row, name)
    if row.message_content and row.message_format:
        message = {"format": row.message_format, "content": row.message_content}
        if row.message_language:
            message["language"] = row.message_language
        info["personalMessage"] = message
    return info


def id_token_info(session: Session, station_id: str, id_token: dict[str, Any], *,
                  evse_id: int | None = None, at: datetime | None = None) -> dict[str, Any]:
    """The IdTokenInfoType for ``id_token`` (an IdTokenType payload) presented at ``station_id``.

    A token not in the store is Unknown; NoAuthorization needs no token and is Accepted. An
    Accepted token past its cacheExpiryDateTime is Expired; one presented at an EVSE outside its
    evseId list is NotAllowedTypeEVSE — except a master pass (C16), which stops transactions on
    any EVSE. groupIdToken always goes with the answer: a station compares it with its
    AuthCtrlr.MasterPassGroupId (C16) and with the group of a running transaction (C09).
    """
    if id_token.get("type") == IdTokenEnumType.no_authorization.value:
        return {"status": ACCEPTED}
    row = find_token(session, id_token.get("idToken", ""), id_token.get("type", ""))
    if row is None:
        return {"status": AuthorizationStatusEnumType.unknown.value}
    info = info_of(row)
    if row.status != ACCEPTED:
        return info
    if row.cache_expiry is not None and row.cache_expiry < (at or utcnow()):
        info["status"] = AuthorizationStatusEnumType.expired.value
    elif (evse_id is not None and row.evse_ids and evse_id not in row.evse_ids
          and not is_master_pass(session, station_id, row)):
        info["status"] = AuthorizationStatusEnumType.not_allowed_type_evse.value
    return info


# --- the store ------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenFilter:
    id_token: str | None = None       # a prefix, case-insensitive
    type: str | None = None
    status: str | None = None
    group_id_token: str | None = None
    local_list: str | None = None


def list_tokens(session: Session, where: TokenFilter, *, offset: int = 0, limit: int | None = None) -> list[IdToken]:
    query = select(IdToken)
    if where.id_token:
        query = query.where(IdToken.lookup.startswith(where.id_token.lower(), autoescape=True))
    for column, value in ((IdToken.type, where.type), (IdToken.status, where.status),
                          (IdToken.group_id_token, where.group_id_token), (IdToken.local_list, where.local_list)):
        if value is not None:
            query = query.where(column == value)
    query = query.order_by(IdToken.type, IdToken.lookup).offset(offset)
    return list(session.exec(query if limit is None else query.limit(limit)))


def get_token(session: Session, token_id: int) -> IdToken:
    row = session.get(IdToken, token_id)
    if row is None:
        raise LookupError(f"no id token {token_id}")
    return row


def add_token(session: Session, fields: TokenFields) -> IdToken:
    if find_token(session, fields.id_token, fields.type) is not None:
        raise Conflict("id_token.exists", f"a {fields.type} token {fields.id_token!r} exists already "
                                          "(id tokens are case-insensitive)")
    row = IdToken(id_token=fields.id_token, lookup=fields.id_token.lower(), type=fields.type, status=fields.status)
    fields.apply_to(row)
    session.add(row)
    session.flush()
    return row


def update_token(session: Session, row: IdToken, fields: TokenFields) -> IdToken:
    fields.apply_to(row)
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class ImportCounts:
    rows: int
    created: int
    updated: int


def import_tokens(session: Session, rows: Sequence[Mapping[str, Any]]) -> ImportCounts:
    """Upsert every row or none: every row is checked first, and the first problems are raised
    together (``ImportRefused``) before anything is written. A row whose (id_token, type) is
    stored replaces that token whole (fields it leaves out take their defaults); other stored
    tokens are left as they are. Row numbers count data rows from 1."""
    checked: list[TokenFields] = []
    problems: list[FieldProblem] = []
    seen: dict[tuple[str, str], int] = {}
    for number, data in enumerate(rows, start=1):
        try:
            fields = token_fields(data)
        except FieldProblem as problem:
            problems.append(FieldProblem(problem.field, problem.problem, row=number))
            continue
        key = (fields.id_token.lower(), fields.type)
        if key in seen:
            problems.append(FieldProblem("id_token", f"the same token as row {seen[key]}", row=number))
            continue
        seen[key] = number
        checked.append(fields)
    if problems:
        raise ImportRefused(problems, len(rows))
    stored = {(row.lookup, row.type): row for row in session.exec(select(IdToken))}
    created = 0
    for fields in checked:
        row = stored.get((fields.id_token.lower(), fields.type))
        if row is None:
            row = IdToken(id_token=fields.id_token, lookup=fields.id_token.lower(), type=fields.type,
                          status=fields.status)
            created += 1
        else:
            row.updated_at = utcnow()
        _reset(row)
        fields.apply_to(row)
        session.add(row)
    session.flush()
    return ImportCounts(len(checked), created, len(checked) - created)


def _reset(row: IdToken) -> None:
    blank = TokenFields(id_token=row.id_token, type=row.type)
    blank.apply_to(row)


PROBLEMS_SHOWN = 50


class ImportRefused(Refusal):
    """An import with bad rows: nothing was written; the first problems name row and field."""

    def __init__(self, problems: list[FieldProblem], rows: int) -> None:
        first = problems[0]
        super().__init__("id_token.import", f"import refused, nothing changed: {len(problems)} bad row(s) of {rows}; "
                         f"row {first.row}: {first.field}: {first.problem}",
                         details={"rows": rows, "bad_rows": len(problems),
                                  "problems": [p.as_dict() for p in problems[:PROBLEMS_SHOWN]]})
        self.field = first.field
        self.problems = problems[:PROBLEMS_SHOWN]
        self.count = len(problems)
        self.rows = rows


def delete_token(session: Session, row: IdToken) -> None:
    session.execute(delete(IdToken).where(IdToken.id == row.id))


def set_master_pass_group(session: Session, scope: str, group_id_token: str | None) -> None:
    row = session.get(MasterPassGroup, scope)
    if group_id_token is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        row = MasterPassGroup(scope=scope, group_id_token=group_id_token)
    row.group_id_token, row.updated_at = group_id_token, utcnow()
    session.add(row)


def master_pass_groups(session: Session) -> dict[str, str]:
    return {row.scope: row.group_id_token for row in session.exec(select(MasterPassGroup))}

