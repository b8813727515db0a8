"""Functional block C — Authorization: Authorize (C01) and the token verdict transactions reuse.

No idToken registry exists yet (a later issue), so every token the CSMS is asked about is
Unknown (TC_C_02 accepts Unknown or Invalid), except 'NoAuthorization', which by definition
needs no authorization.
"""

from __future__ import annotations

from typing import Any

from api.ocpp.handler import StationCall


def id_token_info(id_token: dict[str, Any]) -> dict[str, Any]:
    if id_token.get("type") == "NoAuthorization":
        return {"status": "Accepted"}
    return {"status": "Unknown"}


async def authorize(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    return {"idTokenInfo": id_token_info(payload["idToken"])}
