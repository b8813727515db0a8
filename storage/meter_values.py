"""Meter values (block J, and the meterValue of TransactionEvent): one row per MeterValue the
station sent (a reading: a timestamp and its sampledValues), its sampled values kept as JSON.

A reading, not a sampled value, is the row: a charging fleet sends four or more sampled values
a second per station, and a row each (with its three index entries) was most of what storing a
TransactionEvent cost; a reading's values share their station, EVSE, transaction and time, which
is all the indexes look up. ``sampled_values`` is the sampledValue list as read
(api/csms/meter_values/samples.py: the spec's defaults filled in), in the order sent. Signed meter
values are in it byte-exact (the text the station sent, never decoded or re-encoded), so that
whoever bills from them can verify the signature later; the JSON is ASCII (``\\u`` escapes), so any
string the station sent is stored as it was.

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

from storage.transactions import TRANSACTION_ID_MAX
from storage.types import UtcDateTime, utcnow


class MeterReading(SQLModel, table=True):
    __tablename__ = "meter_reading"
    __table_args__ = (
        Index("ix_meter_reading_station_sampled", "station_id", "sampled_at"),
        Index("ix_meter_reading_transaction", "transaction_pk"),
        Index("ix_meter_reading_received_at", "received_at"),
    )

    # BIGINT on PostgreSQL (a fleet's readings outgrow 2^31); SQLite's rowid is 64-bit already
    # and only an INTEGER primary key is one.
    id: int | None = Field(default=None, primary_key=True,
                           sa_type=BigInteger().with_variant(Integer(), "sqlite"))
    station_id: str = Field(max_length=48)
    evse_id: int | None = Field(default=None)            # 0: the main meter of the station
    transaction_pk: int | None = Field(default=None)     # charging_transaction.id, in a TransactionEvent
    transaction_id: str | None = Field(default=None, max_length=TRANSACTION_ID_MAX)
    sampled_at: datetime = Field(sa_type=UtcDateTime)    # the MeterValue's timestamp (station clock)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)  # partition key
    sampled_count: int                                   # len(sampled_values): counted without parsing
    sampled_values: str = Field(sa_type=Text)            # JSON list, see the module's docstring
