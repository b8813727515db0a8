"""API tokens of security officers, operators and auditors (hashes only)."""

from __future__ import annotations

from datetime import datetime

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
