"""TC_C_37_CSMS — Clear the authorization cache, Accepted (C11): the operator asks through REST,
the CSMS sends ClearCacheRequest, the station's Accepted is read and audited."""

from __future__ import annotations

import json

from authorization_support import clear_cache
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_c_37_clear_cache_accepted(csms):
    answer, received, (result,) = await clear_cache(csms, "TC-C-37", "Accepted")
    assert answer["status"] == "answered" and answer["result"]["status"] == "Accepted"
    assert received == [{}]
    assert json.loads(result.detail) == {"action": "ClearCache", "status": "answered", "answer_status": "Accepted"}
