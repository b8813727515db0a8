"""Functional block C — Authorization: Authorize (C01)."""

from __future__ import annotations

from typing import Any

from api.csms.authorization import service
from api.ocpp.handler import StationCall


async def authorize(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    info = await call.db(lambda session: service.id_token_info(session, call.station_id, payload["idToken"]))
    return {"idTokenInfo": info}
