"""TC_C_38_CSMS — Clear the authorization cache, Rejected (C11): the station's Rejected reaches
the operator as the answer (not an error of the CSMS) and is audited."""

from __future__ import annotations

import json

from authorization_support import clear_cache
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_c_38_clear_cache_rejected(csms):
    answer, received, (result,) = await clear_cache(csms, "TC-C-38", "Rejected")
    assert answer["status"] == "answered" and answer["result"]["status"] == "Rejected"
    assert received == [{}]
    assert json.loads(result.detail) == {"action": "ClearCache", "status": "answered", "answer_status": "Rejected"}
