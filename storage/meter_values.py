"""Meter values (block J, and the meterValue of TransactionEvent): one row per sampledValue.

Signed meter values are kept byte-exact in columns of their own (the text the station sent,
never decoded or re-encoded), so that whoever bills from them can verify the signature later.

On PostgreSQL the table is partitioned by month of ``received_at`` (declarative range
partitioning, see ``storage/partitions.py``): retention then drops whole partitions instead of
deleting rows. The partition key is the server's clock, not the station's: a station with a
wrong clock cannot make rows land outside the partitions made ahead, nor keep them past retention.
On SQLite the same columns, one table, and retention deletes rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, Text
from sqlmodel import Field, SQLModel

from storage.transactions import ENUM_MAX, TRANSACTION_ID_MAX
from storage.types import UtcDateTime, utcnow

# SignedMeterValueType: signedMeterData and publicKey string[..2500], the methods string[..50].
SIGNED_DATA_MAX = 2500
METHOD_MAX = 50
UNIT_MAX = 20


class MeterValue(SQLModel, table=True):
    __tablename__ = "meter_value"
    __table_args__ = (
        Index("ix_meter_value_station_sampled", "station_id", "sampled_at"),
        Index("ix_meter_value_transaction", "transaction_pk"),
        Index("ix_meter_value_received_at", "received_at"),
    )

    # BIGINT on PostgreSQL (a fleet's meter values outgrow 2^31); SQLite's rowid is 64-bit already
    # and only an INTEGER primary key is one.
    id: int | None = Field(default=None, primary_key=True,
                           sa_type=BigInteger().with_variant(Integer(), "sqlite"))
    station_id: str = Field(max_length=48)
    evse_id: int | None = Field(default=None)            # 0: the main meter of the station
    transaction_pk: int | None = Field(default=None)     # charging_transaction.id, in a TransactionEvent
    transaction_id: str | None = Field(default=None, max_length=TRANSACTION_ID_MAX)
    sampled_at: datetime = Field(sa_type=UtcDateTime)    # the MeterValue's timestamp (station clock)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)  # partition key
    measurand: str = Field(max_length=ENUM_MAX)          # the spec's default filled in
    phase: str | None = Field(default=None, max_length=ENUM_MAX)
    location: str | None = Field(default=None, max_length=ENUM_MAX)
    context: str = Field(max_length=ENUM_MAX)            # the spec's default filled in
    unit: str | None = Field(default=None, max_length=UNIT_MAX)
    multiplier: int = Field(default=0)
    value: float
    signed_meter_data: str | None = Field(default=None, sa_type=Text)
    signing_method: str | None = Field(default=None, max_length=METHOD_MAX)
    encoding_method: str | None = Field(default=None, max_length=METHOD_MAX)
    public_key: str | None = Field(default=None, sa_type=Text)
