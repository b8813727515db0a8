"""Transactions as the stations reported them (E01-E15): what other blocks may ask of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session


@dataclass(frozen=True)
class TransactionView:
    station_id: str
    transaction_id: str          # as the station reported it
    evse_id: int | None
    connector_id: int | None
    started_at: datetime | None
    ended_at: datetime | None    # None while the transaction runs
    energy_wh: float | None      # Energy.Active.Import.Register delta, when reported
    id_token: str | None


def find(session: Session, station_id: str, transaction_id: str) -> TransactionView | None:
    """The transaction ``transaction_id`` of ``station_id``, or None when it was never reported."""
    return None
