"""Id tokens (block C): the store the CSMS answers Authorize and TransactionEvent from, its bulk
import and export, and the master-pass groups (C16).

Writes: officer or operator; reading: any role. Every change is audited (an import once, with
its counts). The routes are thin: api/operations/id_tokens.py does the work for REST and CLI.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.csms.authorization.service import TokenFilter
from api.csms.authorization.token_records import MESSAGE_FORMATS, STATUSES, TOKEN_TYPES
from api.operations import id_tokens as operations
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, StationOps
from api.rest.errors import ApiError
from api.rest.instants import AwareInstant
from api.rest.numbers import Offset, RowId
from api.rest.request_body import RequestBody

router = APIRouter(prefix="/api/v1/id-tokens", tags=["id tokens"])

TokenType = Literal[TOKEN_TYPES]  # type: ignore[valid-type]
Status = Literal[STATUSES]  # type: ignore[valid-type]
MessageFormat = Literal[MESSAGE_FORMATS]  # type: ignore[valid-type]


class IdTokenChange(RequestBody):
    """Fields to change; null clears an optional field."""

    status: Status | None = Field(None, description="AuthorizationStatusEnumType; default Accepted.")
    cache_expiry: AwareInstant | None = Field(None, description="cacheExpiryDateTime; after it the token is "
                                                                 "answered Expired.")
    group_id_token: str | None = Field(None, max_length=36, description="groupIdToken (C09); equal to the "
                                       "MasterPassGroupId it makes a master pass (C16).")
    group_type: TokenType | None = Field(None, description="Type of the groupIdToken; default Central.")
    evse_ids: list[int] | None = Field(None, min_length=1, max_length=64,
                                       description="The EVSEs the token is allowed at; elsewhere NotAllowedTypeEVSE.")
    language1: str | None = Field(None, max_length=8)
    language2: str | None = Field(None, max_length=8)
    message_format: MessageFormat | None = None
    message_language: str | None = Field(None, max_length=8)
    message_content: str | None = Field(None, max_length=512, description="personalMessage shown at the station.")
    local_list: str | None = Field(None, max_length=100, description="Glob over station ids whose local "
                                                                     "authorization list carries the token, e.g. `*` "
                                                                     "or `DEPOT-A-*`; null: no local list.")


class IdTokenIn(IdTokenChange):
    id_token: str = Field(max_length=36, description="IdTokenType.idToken (case-insensitive).")
    type: TokenType


class IdTokenOut(IdTokenIn):
    id: int


class ImportOut(BaseModel):
    rows: int
    created: int
    updated: int


class MasterPassIn(RequestBody):
    group_id_token: str | None = Field(max_length=36, description="null clears it.")
    station_id: str | None = Field(None, max_length=48, description="null: every station without its own.")


_WRITE_ERRORS = errors.responses(401, 403, 404, 409, 415, 422, 503)


async def _filter(id_token: Annotated[str | None, Query(max_length=36, description="Tokens starting with this "
                                                                                "(case-insensitive).")] = None,
                  # The enums, not any text: a misspelt value ("blocked") matched nothing, so an
                  # export of the blocked tokens came back empty with a 200.
                  type: Annotated[TokenType | None, Query()] = None,
                  status: Annotated[Status | None, Query()] = None,
                  group_id_token: Annotated[str | None, Query(max_length=36)] = None,
                  local_list: Annotated[str | None, Query(max_length=100,
                                                          description="The selector, exactly.")] = None,
                  ) -> TokenFilter:
    return TokenFilter(id_token=id_token, type=type, status=status, group_id_token=group_id_token,
                       local_list=local_list)


Where = Annotated[TokenFilter, Depends(_filter)]


@router.get("", response_model=list[IdTokenOut], responses=errors.responses(401, 403, 503))
def list_id_tokens(_principal: AnyRole, ctx: Ctx, where: Where,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200, offset: Offset = 0) -> list[dict[str, Any]]:
    """Tokens by type, then value; filtered, one page. Roles: officer, operator, auditor."""
    return operations.list_tokens(ctx, where, offset=offset, limit=limit)


@router.get("/export", responses={200: {"content": {"text/csv": {}, "application/json": {}}},
                                  **errors.responses(401, 403, 503)})
def export_id_tokens(_principal: AnyRole, ctx: Ctx, where: Where,
                     format: Literal["csv", "json"] = "json") -> Response:
    """Every token (or the filtered ones) as CSV or JSON, in the shape import reads back.
    Roles: officer, operator, auditor."""
    text = operations.export_tokens(ctx, where, format)
    return Response(text, media_type="text/csv" if format == "csv" else "application/json")


@router.post("/import", response_model=ImportOut, responses=errors.responses(401, 403, 413, 415, 422, 503))
async def import_id_tokens(request: Request, principal: StationOps, ctx: Ctx) -> ImportOut:
    """Add or replace many tokens at once: the body is a CSV file (`Content-Type: text/csv`, a
    header row of field names) or JSON (`application/json`: a list of tokens, or what export
    writes). All or nothing: a bad row changes nothing, and the 422 (`rule` id_token.import)
    lists in `problems` the first 50 bad rows with `row` (data rows from 1), `field` and
    `problem`. Upsert: a row whose id_token and type are stored (case-insensitively) replaces
    that token whole; tokens not in the file stay. At most 50,000 rows and 16 MiB.
    One audit entry with the counts. Roles: officer, operator."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    kind = {"text/csv": operations.CSV, "application/json": operations.JSON}.get(media_type)
    if kind is None:
        raise ApiError(415, "import reads text/csv or application/json")
    body = await request.body()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "the file must be UTF-8") from None
    counts = await asyncio.to_thread(operations.import_tokens, ctx, principal.actor, text, kind)
    return ImportOut(rows=counts.rows, created=counts.created, updated=counts.updated)


@router.get("/master-pass-groups", response_model=dict[str, str], responses=errors.responses(401, 403, 503))
def get_master_pass_groups(_principal: AnyRole, ctx: Ctx) -> dict[str, str]:
    """MasterPassGroupId by scope: `*` for every station, else a station id (which wins there).
    Roles: officer, operator, auditor."""
    return operations.master_pass_groups(ctx)


@router.put("/master-pass-groups", response_model=dict[str, str], responses=_WRITE_ERRORS)
def put_master_pass_group(body: MasterPassIn, principal: StationOps, ctx: Ctx) -> dict[str, str]:
    """Set (or clear, with null) the MasterPassGroupId of every station or of one: a token whose
    groupIdToken equals it is a master pass there (C16). Set the same value in the stations'
    AuthCtrlr.MasterPassGroupId. Roles: officer, operator."""
    return operations.set_master_pass_group(ctx, principal.actor, body.group_id_token, body.station_id)


@router.post("", status_code=201, response_model=IdTokenOut, responses=_WRITE_ERRORS)
def create_id_token(body: IdTokenIn, principal: StationOps, ctx: Ctx) -> dict[str, Any]:
    """Add a token; 409 (`id_token.exists`) when one of that type and value (case-insensitive)
    is stored. Roles: officer, operator."""
    return operations.add_token(ctx, principal.actor, body.model_dump(exclude_none=True))


@router.get("/{token_id}", response_model=IdTokenOut, responses=errors.responses(401, 403, 404, 503))
def get_id_token(token_id: RowId, _principal: AnyRole, ctx: Ctx) -> dict[str, Any]:
    """One token. Roles: officer, operator, auditor."""
    return operations.get_token(ctx, token_id)


@router.patch("/{token_id}", response_model=IdTokenOut, responses=_WRITE_ERRORS)
def update_id_token(token_id: RowId, body: IdTokenChange, principal: StationOps, ctx: Ctx) -> dict[str, Any]:
    """Change some fields (those in the body; null clears one). The value and type stay: delete
    and add to change them. Roles: officer, operator."""
    return operations.change_token(ctx, principal.actor, token_id, body.model_dump(exclude_unset=True))


@router.delete("/{token_id}", response_model=IdTokenOut, responses=_WRITE_ERRORS)
def delete_id_token(token_id: RowId, principal: StationOps, ctx: Ctx) -> dict[str, Any]:
    """Delete a token: from now on it is answered Unknown; local lists lose it with their next
    update. Roles: officer, operator."""
    return operations.delete_token(ctx, principal.actor, token_id)
