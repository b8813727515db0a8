"""Functional block E — Transactions: TransactionEvent (E01–E15), minimal.

The response carries idTokenInfo exactly when the request carried an idToken: that is the
authorization question the event asks. Nothing is stored yet.
"""

from __future__ import annotations

from typing import Any

from api.csms.authorization import service as authorization
from api.ocpp.handler import StationCall


async def transaction_event(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    if "idToken" in payload:
        evse_id = payload.get("evse", {}).get("id")
        info = await call.db(lambda session: authorization.id_token_info(
            session, call.station_id, payload["idToken"], evse_id=evse_id))
        return {"idTokenInfo": info}
    return {}
