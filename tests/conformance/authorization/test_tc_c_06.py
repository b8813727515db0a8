"""TC_C_06_CSMS — Authorize a token the CSMS knows as Blocked (C01): status Blocked (or Invalid)."""

from __future__ import annotations

from authorization_support import add_token, booted_station
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_c_06_blocked_token(csms):
    await add_token(csms, "04BL0C4ED", status="Blocked")
    station = await booted_station(csms, "TC-C-06")
    answer = await station.call("Authorize", {"idToken": {"idToken": "04BL0C4ED", "type": "ISO14443"}})
    assert answer["idTokenInfo"]["status"] in ("Blocked", "Invalid")
