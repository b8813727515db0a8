"""TC_C_07_CSMS — Authorize a token the CSMS knows as Expired (C01): status Expired (or Invalid),
whether it was stored Expired or its cacheExpiryDateTime has passed."""

from __future__ import annotations

import pytest
from authorization_support import add_token, booted_station
from ocpp_support import csms  # noqa: F401 - fixture


@pytest.mark.parametrize("setup", [{"status": "Expired"}, {"cache_expiry": "2020-01-01T00:00:00Z"}])
async def test_tc_c_07_expired_token(csms, setup):
    await add_token(csms, "04EXP12ED", **setup)
    station = await booted_station(csms, "TC-C-07")
    answer = await station.call("Authorize", {"idToken": {"idToken": "04EXP12ED", "type": "ISO14443"}})
    assert answer["idTokenInfo"]["status"] in ("Expired", "Invalid")
