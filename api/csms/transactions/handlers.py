"""Functional block E — Transactions: TransactionEvent (E01–E15), minimal.

The response carries idTokenInfo exactly when the request carried an idToken: that is the
authorization question the event asks. Nothing is stored yet.
"""

from __future__ import annotations

from typing import Any

from api.csms.authorization.handlers import id_token_info
from api.ocpp.handler import StationCall


async def transaction_event(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    if "idToken" in payload:
        return {"idTokenInfo": id_token_info(payload["idToken"])}
    return {}
