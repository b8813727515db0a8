"""Functional block I — Tariff and cost, on the answers of other blocks' messages.

- I01: an Accepted AuthorizeResponse carries the station's tariff as the idTokenInfo's
  personalMessage (unless the token has a personal message of its own, which wins).
- I02: while a transaction runs, its running cost goes to the station as CostUpdated, after a
  TransactionEvent Updated, at most once per ``COST_UPDATE_INTERVAL`` per transaction (the
  station sends Updated events far more often than a driver needs a new figure). The call is an
  outbox row, stored with the event's answer, so a lost connection delays it, never loses it.
- I03: the TransactionEventResponse of the Ended event carries the final totalCost.

No tariff, no cost: the answers stay as the other blocks made them.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ocpp.v201.enums import AuthorizationStatusEnumType, MessageFormatEnumType, TransactionEventEnumType
from sqlmodel import Session

from api.csms.outbox import signal as outbox_signal
from api.csms.outbox.purposes import OPERATOR_JOB
from api.csms.tariff_cost import service
from api.csms.transactions import service as transactions
from api.ocpp.handler import Handler, StationCall, parse_datetime
from storage.outbox import OutboundCall

COST_UPDATE_INTERVAL = 60.0
# Who the audit names for the CostUpdated calls the CSMS sends on its own.
COST_SENDER = "chargeca:cost"
_TRACKED_MAX = 10_000
_PERSONAL_MESSAGE_MAX = 512


def showing_tariff(authorize: Handler) -> Handler:
    """I01: ``authorize``'s answer, with the tariff shown to an accepted driver."""

    async def authorize_with_tariff(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await authorize(call, payload)
        info = answer.get("idTokenInfo", {})
        if info.get("status") != AuthorizationStatusEnumType.accepted or "personalMessage" in info:
            return answer
        prices = await call.db(lambda session: service.tariff_for(session, call.station_id))
        if prices is not None:
            info["personalMessage"] = {"format": MessageFormatEnumType.utf8,
                                       "content": prices.text()[:_PERSONAL_MESSAGE_MAX]}
        return answer

    return authorize_with_tariff


class _Due:
    """When each running transaction may get its next CostUpdated (this process only; bounded)."""

    def __init__(self) -> None:
        self._last: OrderedDict[tuple[str, str], float] = OrderedDict()

    def due(self, key: tuple[str, str]) -> bool:
        last = self._last.get(key)
        return last is None or time.monotonic() - last >= COST_UPDATE_INTERVAL

    def sent(self, key: tuple[str, str]) -> None:
        self._last[key] = time.monotonic()
        self._last.move_to_end(key)
        while len(self._last) > _TRACKED_MAX:
            self._last.popitem(last=False)

    def ended(self, key: tuple[str, str]) -> None:
        self._last.pop(key, None)


_cost_updates = _Due()


@dataclass(frozen=True)
class Cost:
    total: Decimal | None
    update_queued: bool


def price_event(session: Session, station_id: str, payload: dict[str, Any], *, send_update: bool) -> Cost:
    """The cost of the transaction an Updated or Ended event belongs to, as our records have it
    now (api/csms/transactions/service.py: find); with ``send_update``, a CostUpdated stored for it."""
    transaction_id = payload["transactionInfo"]["transactionId"]
    view = transactions.find(session, station_id, transaction_id)
    if view is None or view.started_at is None:
        return Cost(None, False)
    until = view.ended_at or parse_datetime(payload["timestamp"], "timestamp")
    total = service.cost_of(session, station_id, energy_wh=view.energy_wh or 0.0,
                            seconds=max((until - view.started_at).total_seconds(), 0.0))
    if total is None or not send_update:
        return Cost(total, False)
    session.add(OutboundCall(station_id=station_id, action="CostUpdated", purpose=OPERATOR_JOB,
                             payload=json.dumps({"totalCost": float(total), "transactionId": transaction_id}),
                             created_by=COST_SENDER))
    return Cost(total, True)


async def cost_of_event(call: StationCall, payload: dict[str, Any], answer: dict[str, Any]) -> None:
    """I02/I03 for one TransactionEvent whose answer ``answer`` is about to leave."""
    event = payload["eventType"]
    if event == TransactionEventEnumType.started:
        return
    key = (call.station_id, payload["transactionInfo"]["transactionId"])
    send_update = event == TransactionEventEnumType.updated and _cost_updates.due(key)
    cost = await call.db(lambda session: price_event(session, call.station_id, payload, send_update=send_update))
    if event == TransactionEventEnumType.ended:
        _cost_updates.ended(key)
        if cost.total is not None and "totalCost" not in answer:
            answer["totalCost"] = float(cost.total)
    elif cost.update_queued:
        _cost_updates.sent(key)
        call.after(_ring)


async def _ring() -> None:
    outbox_signal.ring()
