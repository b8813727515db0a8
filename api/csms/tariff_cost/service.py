"""Tariffs and what a transaction costs under them (I02, I03)."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import Session


def cost_of(session: Session, station_id: str, *, energy_wh: float, seconds: float) -> Decimal | None:
    """What ``energy_wh`` over ``seconds`` of charging costs at ``station_id``; None: no tariff applies."""
    return None
