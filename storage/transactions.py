"""Transactions as stations report them (block E): one row per (station, transactionId) and one
per TransactionEvent received.

The transaction row is a summary kept up to date as events arrive (in any order: offline events
come late); the events are the record. Sequence numbers are checked, never enforced: a gap or a
duplicate is counted on the transaction (``seq_*`` columns) and the event is kept all the same.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

# OCPP 2.0.1 lengths: transactionId string[..36], idToken string[..36], its type an enum[..20].
TRANSACTION_ID_MAX = 36
ID_TOKEN_MAX = 36
ENUM_MAX = 32
# Distinct idTokens remembered on a transaction (the first one and those that authorised a stop
# or a change): a station cannot grow the row by sending many.
ID_TOKENS_KEPT = 8


class Transaction(SQLModel, table=True):
    __tablename__ = "charging_transaction"
    __table_args__ = (UniqueConstraint("station_id", "transaction_id", name="uq_charging_transaction_station_tx"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48, index=True)
    transaction_id: str = Field(max_length=TRANSACTION_ID_MAX)
    evse_id: int | None = Field(default=None)
    connector_id: int | None = Field(default=None)
    id_token: str | None = Field(default=None, max_length=ID_TOKEN_MAX, index=True)  # the first seen
    id_token_type: str | None = Field(default=None, max_length=ENUM_MAX)
    # JSON list of the distinct {"idToken", "type"} seen, at most ID_TOKENS_KEPT.
    id_tokens_seen: str = Field(default="[]", sa_type=Text)
    # Times as the station reported them: the Started event's, the Ended event's.
    started_at: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)
    ended_at: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)
    start_trigger: str | None = Field(default=None, max_length=ENUM_MAX)
    stop_trigger: str | None = Field(default=None, max_length=ENUM_MAX)
    stopped_reason: str | None = Field(default=None, max_length=ENUM_MAX)
    charging_state: str | None = Field(default=None, max_length=ENUM_MAX)   # the latest reported
    last_event_at: datetime | None = Field(default=None, sa_type=UtcDateTime)  # the latest event's timestamp
    remote_start_id: int | None = Field(default=None)
    reservation_id: int | None = Field(default=None)
    time_spent_charging: int | None = Field(default=None)
    # Energy.Active.Import.Register in Wh: the earliest and the latest reading (by their timestamps,
    # so a late offline event moves them only when it is earlier or later); energy_wh = last - first.
    meter_first_wh: float | None = Field(default=None)
    meter_first_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    meter_last_wh: float | None = Field(default=None)
    meter_last_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    energy_wh: float | None = Field(default=None)
    # Sequence numbers: lowest and highest seen, how many distinct, how many repeated.
    # Missing = seq_max - seq_min + 1 - seq_received.
    seq_min: int | None = Field(default=None)
    seq_max: int | None = Field(default=None)
    seq_received: int = Field(default=0)
    seq_duplicates: int = Field(default=0)
    events: int = Field(default=0)
    offline_events: int = Field(default=0)
    # The first event seen for it was an Updated or Ended: the Started never arrived (yet).
    unknown_start: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)

    @property
    def seq_missing(self) -> int:
        return seq_missing(self.seq_min, self.seq_max, self.seq_received)


def seq_missing(seq_min: int | None, seq_max: int | None, seq_received: int) -> int:
    """How many seqNos between the lowest and the highest received never arrived."""
    if seq_min is None or seq_max is None:
        return 0
    return max(0, seq_max - seq_min + 1 - seq_received)


class TransactionEvent(SQLModel, table=True):
    __tablename__ = "transaction_event"
    __table_args__ = (Index("ix_transaction_event_tx_seq", "transaction_pk", "seq_no"),)

    id: int | None = Field(default=None, primary_key=True)
    transaction_pk: int = Field(foreign_key="charging_transaction.id")
    station_id: str = Field(max_length=48)
    transaction_id: str = Field(max_length=TRANSACTION_ID_MAX)
    seq_no: int
    event_type: str = Field(max_length=ENUM_MAX)
    trigger_reason: str = Field(max_length=ENUM_MAX)
    timestamp: datetime = Field(sa_type=UtcDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    offline: bool = Field(default=False)
    number_of_phases_used: int | None = Field(default=None)
    cable_max_current: int | None = Field(default=None)
    reservation_id: int | None = Field(default=None)
    charging_state: str | None = Field(default=None, max_length=ENUM_MAX)
    time_spent_charging: int | None = Field(default=None)
    stopped_reason: str | None = Field(default=None, max_length=ENUM_MAX)
    remote_start_id: int | None = Field(default=None)
    id_token: str | None = Field(default=None, max_length=ID_TOKEN_MAX)
    id_token_type: str | None = Field(default=None, max_length=ENUM_MAX)
    evse_id: int | None = Field(default=None)
    connector_id: int | None = Field(default=None)
    # This seqNo had been received before for the same transaction.
    duplicate: bool = Field(default=False)


class TransactionStatusAnswer(SQLModel, table=True):
    """What a station answered to GetTransactionStatus (E14), with or without a transactionId."""

    __tablename__ = "transaction_status_answer"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48, index=True)
    transaction_id: str | None = Field(default=None, max_length=TRANSACTION_ID_MAX)
    messages_in_queue: bool
    ongoing_indicator: bool | None = Field(default=None)
    answered_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    asked_by: str = Field(max_length=255)
