"""API tokens: creating, listing (never their secrets) and revoking."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import select

from api.core.audit import run_in_session
from api.operations import tokens as token_operations
from api.rest import errors
from api.rest.auth import Ctx, OfficerOnly, Oversight
from api.rest.schemas import TokenCreate, TokenCreated, TokenOut
from storage.tokens import ApiToken

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.post("", status_code=201, response_model=TokenCreated,
             responses=errors.responses(401, 403, 415, 422, 503))
def create_token(body: TokenCreate, principal: OfficerOnly, ctx: Ctx) -> TokenCreated:
    """Create an API token for a role, valid until revoked or for `valid_days`. Role: officer.

    The token is in `token` of this answer and nowhere else, ever: only its hash is stored.
    """
    created = token_operations.create_token(ctx, principal.actor, body.role, body.name, body.valid_days)
    return TokenCreated(**TokenOut.of(created.record).model_dump(), token=created.token)


@router.get("", response_model=list[TokenOut], responses=errors.responses(401, 403, 503))
def list_tokens(_principal: Oversight, ctx: Ctx) -> list[TokenOut]:
    """All tokens, revoked ones included, oldest first; no secrets. Roles: officer, auditor."""
    query = select(ApiToken).order_by(ApiToken.created_at)
    return run_in_session(ctx, lambda s: [TokenOut.of(t) for t in s.exec(query)])


@router.delete("/{token_id}", response_model=TokenOut, responses=errors.responses(401, 403, 404, 503))
def revoke_token(token_id: str, principal: OfficerOnly, ctx: Ctx) -> TokenOut:
    """Revoke a token: it stops working on every node with the next request. Revoking a
    revoked token changes nothing. Role: officer."""
    return TokenOut.of(token_operations.revoke_token(ctx, principal.actor, token_id))
