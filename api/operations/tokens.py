"""API tokens: created (the secret shown once) and revoked, each audited."""

from __future__ import annotations

from dataclasses import dataclass

from api.core.audit import ROLES, Actor, audited
from api.core.context import Context
from api.core.credentials import hash_secret, new_token
from api.core.refusal import Refusal
from storage.tokens import ApiToken
from storage.types import utcnow


@dataclass(frozen=True)
class NewToken:
    record: ApiToken
    token: str  # shown once


def create_token(ctx: Context, actor: Actor, role: str, name: str) -> NewToken:
    if role not in ROLES:
        raise Refusal("token.role", f"role must be one of {', '.join(ROLES)}")
    token_id, secret, token = new_token()
    with audited(ctx, actor, "token.create", token_id) as (session, detail):
        record = ApiToken(id=token_id, name=name[:100], role=role, secret_hash=hash_secret(secret),
                          created_by=actor.name)
        session.add(record)
        detail.update(role=role, name=record.name)
    return NewToken(record, token)


def revoke_token(ctx: Context, actor: Actor, token_id: str) -> ApiToken:
    with audited(ctx, actor, "token.revoke", token_id) as (session, _detail):
        record = session.get(ApiToken, token_id)
        if record is None:
            raise LookupError(f"no API token {token_id}")
        if record.revoked_at is None:
            record.revoked_at = utcnow()
            session.add(record)
    return record
