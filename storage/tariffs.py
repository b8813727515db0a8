"""Tariffs (I01-I04): one per station, and a default for the stations without their own.

Prices are Decimal kept as text: SQLite has no exact decimal type, and a price must not drift
through a float on its way to a bill.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

# The scope of the default tariff: the empty string is never a station identity (policies/names.py).
DEFAULT_SCOPE = ""


class Tariff(SQLModel, table=True):
    __tablename__ = "tariff"

    scope: str = Field(primary_key=True, max_length=48)   # a station id, or DEFAULT_SCOPE
    currency: str = Field(max_length=3)                   # ISO 4217
    price_per_kwh: str = Field(max_length=24)
    price_per_minute: str = Field(max_length=24)
    flat_fee: str = Field(max_length=24)
    updated_by: str = Field(max_length=100)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
