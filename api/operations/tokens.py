"""API tokens: created (the secret shown once) and revoked, each audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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


# A token meant to expire lives a day at least and ten years at most.
VALID_DAYS_MAX = 3650
NAME_MAX = 100


def create_token(ctx: Context, actor: Actor, role: str, name: str, valid_days: int | None = None) -> NewToken:
    """A token for ``role``, valid until revoked or, given ``valid_days``, for that many days."""
    if role not in ROLES:
        raise Refusal("token.role", f"role must be one of {', '.join(ROLES)}")
    if not 1 <= len(name) <= NAME_MAX:   # cut, the name would no longer say who holds the token
        raise Refusal("token.name", f"a token's name takes 1 to {NAME_MAX} characters, not {len(name)}")
    if valid_days is not None and not 1 <= valid_days <= VALID_DAYS_MAX:
        raise Refusal("token.valid_days", f"valid_days must be from 1 to {VALID_DAYS_MAX}, not {valid_days}")
    token_id, secret, token = new_token()
    now = utcnow()
    expires_at = None if valid_days is None else now + timedelta(days=valid_days)
    with audited(ctx, actor, "token.create", token_id) as (session, detail):
        record = ApiToken(id=token_id, name=name, role=role, secret_hash=hash_secret(secret),
                          created_by=actor.name, created_at=now, expires_at=expires_at)
        session.add(record)
        detail.update(role=role, name=record.name,
                      expires_at=None if expires_at is None else expires_at.isoformat())
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
