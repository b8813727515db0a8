"""API tokens of security officers, operators and auditors (hashes only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: str = Field(primary_key=True, max_length=32)   # public part of the token, for lookup
    name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    secret_hash: str = Field(max_length=255)            # argon2id of the secret part
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # None: valid until revoked (the first officer's token, automation that rotates its own).
    expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


@dataclass(frozen=True)
class TokenStanding:
    """What authenticating a request needs of a token's row."""

    id: str
    name: str
    role: str
    secret_hash: str
    revoked: bool
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


_TOKEN = ApiToken.__table__
_STANDING = select(_TOKEN.c.id, _TOKEN.c.name, _TOKEN.c.role, _TOKEN.c.secret_hash, _TOKEN.c.revoked_at,
                   _TOKEN.c.expires_at) \
    .where(_TOKEN.c.id == bindparam("id"))


def token_standing(connection: Connection, token_id: str) -> TokenStanding | None:
    """The token ``token_id``, read on every REST request (a statement built once, no ORM)."""
    row = connection.execute(_STANDING, {"id": token_id}).first()
    if row is None:
        return None
    return TokenStanding(row.id, row.name, row.role, row.secret_hash, row.revoked_at is not None, row.expires_at)
