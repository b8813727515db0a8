"""Functional block I — Tariff and cost, on the answers of other blocks' messages.

- I01: an Accepted AuthorizeResponse carries the station's tariff as the idTokenInfo's
  personalMessage (unless the token has a personal message of its own, which wins).
- I02: while a transaction runs, its running cost goes to the station as CostUpdated, after a
  TransactionEvent Updated, at most once per ``COST_UPDATE_INTERVAL`` per transaction (the
  station sends Updated events far more often than a driver needs a new figure). The call is an
  outbox row, stored before it is sent, so a lost connection delays it, never loses it.
- I03: block E's handler prices the Ended event itself (``totalCost``, from ``service.cost_of``,
  in the transaction that stores the event): the schema allows totalCost only once charging has
  ended, so the running cost of I02 is priced here from the stored transaction.

No tariff, no cost: the answers stay as the other blocks made them.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

from ocpp.v201.enums import AuthorizationStatusEnumType, MessageFormatEnumType, TransactionEventEnumType
from sqlmodel import Session

from api.csms.outbox import signal as outbox_signal
from api.csms.outbox.purposes import OPERATOR_JOB
from api.csms.tariff_cost import service
from api.csms.tariff_cost.commands import CostUpdated
from api.csms.transactions import service as transactions
from api.ocpp.handler import Handler, StationCall, parse_datetime
from storage.db import DatabaseUnavailable
from storage.outbox import OutboundCall
from storage.stations import Station

log = logging.getLogger("chargeca.csms.tariff_cost")

COST_UPDATE_INTERVAL = 60.0
# Who the audit names for the CostUpdated calls the CSMS sends on its own.
COST_SENDER = "chargeca:cost"
# Running transactions a connection keeps the last cost look of: a station has a few EVSEs. Kept
# per connection, not per process: with one bound for all, a station opening transaction after
# transaction pushed every other station's out, and each of those then got a CostUpdated at every
# Updated event instead of once a minute.
TRACKED_PER_STATION = 16
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


def _due(looked: dict[str, float], transaction_id: str) -> bool:
    """Whether the running cost of ``transaction_id`` may be looked at again for a CostUpdated;
    if so, marked as looked at now (``looked``: the connection's, oldest first, bounded)."""
    last = looked.get(transaction_id)
    now = time.monotonic()
    if last is not None and now - last < COST_UPDATE_INTERVAL:
        return False
    looked.pop(transaction_id, None)
    looked[transaction_id] = now
    while len(looked) > TRACKED_PER_STATION:
        del looked[next(iter(looked))]
    return True


def queue_cost_update(session: Session, station_id: str, transaction_id: str, total_cost: float) -> bool:
    """Store a CostUpdated for the outbox; False when the station is not registered (nothing to send to)."""
    if session.get(Station, station_id) is None:
        return False
    command = CostUpdated(total_cost=total_cost, transaction_id=transaction_id)
    session.add(OutboundCall(station_id=station_id, action=command.action, purpose=OPERATOR_JOB,
                             payload=json.dumps(command.request()), created_by=COST_SENDER))
    return True


def queue_running_cost(session: Session, station_id: str, transaction_id: str, at: datetime) -> bool:
    """Price the stored transaction up to ``at`` and queue it as CostUpdated; False when no
    tariff applies, the transaction has ended, no cost can be told (service.Prices.cost) or there
    is nothing to send to."""
    prices = service.tariff_for(session, station_id)  # first: most stations have none, and then that is all
    if prices is None:
        return False
    transaction = transactions.find(session, station_id, transaction_id)
    # Ended, its final cost went with the Ended answer (I03): a late Updated priced up to its own
    # time would show the driver a running cost past the bill.
    if transaction is None or transaction.started_at is None or transaction.ended_at is not None:
        return False
    seconds = max(0.0, (at - transaction.started_at).total_seconds())
    total = prices.cost(transaction.energy_wh or 0.0, seconds)
    if total is None:   # no cost can be told of what the station reported: none to send
        return False
    return queue_cost_update(session, station_id, transaction_id, float(total))


async def cost_of_event(call: StationCall, payload: dict[str, Any]) -> None:
    """I02 for one TransactionEvent just stored and answered: after an Updated, the running cost
    goes out as CostUpdated when one is due."""
    transaction_id = payload["transactionInfo"]["transactionId"]
    looked = call.live.cost_looked_at
    if payload["eventType"] == TransactionEventEnumType.ended:
        looked.pop(transaction_id, None)
        return
    # Marked before asking, whatever the answer: without a tariff every Updated would otherwise
    # cost a database lookup; a tariff set mid-transaction shows within the interval.
    if payload["eventType"] != TransactionEventEnumType.updated or not _due(looked, transaction_id):
        return
    at = parse_datetime(payload["timestamp"], "timestamp")
    try:
        # Grouped: at the start of a charging wave every running transaction is due at once.
        if await call.db_grouped(lambda session: service.tariff_for(session, call.station_id)) is None:
            return   # most stations have no tariff: nothing to price, nothing to wait for
        if call.write_behind is not None:
            await call.write_behind.settled()   # priced from the stored transaction: this event in it
        if await call.db_grouped(lambda session: queue_running_cost(session, call.station_id, transaction_id, at)):
            call.after(_ring)
    except DatabaseUnavailable as exc:
        # The event itself is stored or journaled: its answer stands. The cost goes at the next one.
        looked.pop(transaction_id, None)
        log.warning("running cost of %s on %s not priced: %s", transaction_id, call.station_id, exc)


async def _ring() -> None:
    outbox_signal.ring()
