"""The token verdict: what the CSMS answers about an idToken (C01, C09, C12, C16).

Used by Authorize and by every TransactionEvent that carries an idToken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session


def id_token_info(session: Session, station_id: str, id_token: dict[str, Any], *,
                  evse_id: int | None = None, at: datetime | None = None) -> dict[str, Any]:
    """The IdTokenInfoType for ``id_token`` (an IdTokenType payload) presented at ``station_id``."""
    if id_token.get("type") == "NoAuthorization":
        return {"status": "Accepted"}
    return {"status": "Unknown"}
