"""TC_C_02_CSMS — Authorize with an unknown or invalid idToken (C01): the CSMS answers
idTokenInfo.status Unknown (or Invalid), and nothing else that would let the station charge."""

from __future__ import annotations

import pytest
from authorization_support import booted_station
from ocpp_support import csms  # noqa: F401 - fixture


@pytest.mark.parametrize("token_type", ["ISO14443", "ISO15693"])
async def test_tc_c_02_unknown_token(csms, token_type):
    station = await booted_station(csms, "TC-C-02")
    answer = await station.call("Authorize", {"idToken": {"idToken": "DEADBEEF", "type": token_type}})
    assert answer["idTokenInfo"]["status"] in ("Unknown", "Invalid")
    assert set(answer["idTokenInfo"]) == {"status"}
