"""TC_E_10 — Start transaction options: Authorized, local (E01 S3).

Authorize with the valid token, then Started triggerReason Authorized with the same token: both
answers carry Accepted on it. Stored: the transaction with the token as its first,
started by Authorized.
"""

from __future__ import annotations

import json

from charging_support import ACCEPTED, VALID_TOKEN, charging_station, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_10_start_when_authorized(csms):
    charging = await charging_station(csms, "TC-E-10")
    expected = ACCEPTED

    assert await charging.authorize(VALID_TOKEN) == {"idTokenInfo": expected}
    assert await charging.start("Authorized", id_token=VALID_TOKEN) == {"idTokenInfo": expected}

    row, events, _ = await stored(csms, "TC-E-10", charging.transaction_id)
    assert row.start_trigger == "Authorized" and row.id_token == VALID_TOKEN["idToken"]
    assert json.loads(row.id_tokens_seen) == [VALID_TOKEN]
    assert [(e.id_token, e.id_token_type) for e in events] == [("04E1C2D3A4B5C6", "ISO14443")]
