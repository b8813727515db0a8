"""What blocks F, H and I take from a TransactionEvent, after block E has answered and stored it:

- F: the event carries our remoteStartId (F01/F02): that remote start became this transaction;
- H: the event carries a reservationId (H03): that reservation was used;
- I: the running cost goes out as CostUpdated, the final one in the Ended answer
  (api/csms/tariff_cost/handlers.py).

``following(handler)`` wraps block E's handler in the routing table, so E stays unaware of them.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from api.csms.remote_control import service as remote_starts
from api.csms.reservations import service as reservations
from api.csms.tariff_cost.handlers import cost_of_event
from api.ocpp.handler import Handler, StationCall


def link(session: Session, station_id: str, payload: dict[str, Any]) -> None:
    info = payload["transactionInfo"]
    if "remoteStartId" in info:
        remote_starts.transaction_started(session, station_id, info["remoteStartId"], info["transactionId"])
    if "reservationId" in payload:
        reservations.used(session, station_id, payload["reservationId"], info["transactionId"])


def following(handler: Handler) -> Handler:
    async def transaction_event(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await handler(call, payload)
        if "remoteStartId" in payload["transactionInfo"] or "reservationId" in payload:
            await call.db(lambda session: link(session, call.station_id, payload))
        await cost_of_event(call, payload)
        return answer

    transaction_event.__doc__ = handler.__doc__
    return transaction_event
