"""TC_F_27_CSMS — TriggerMessage answered NotImplemented (F06.FR.08): the CSMS reads the answer
and shows it to the operator; nothing else happens."""

from __future__ import annotations

from core_support import booted_station, get, received, trigger
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_27_trigger_message_not_implemented(csms):
    station = await booted_station(csms, "TC-F-27")

    sent, _ = await trigger(csms, station, "SignV2GCertificate", status="NotImplemented")

    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "answered" and sent.json()["result"]["status"] == "NotImplemented"
    assert received(station, "TriggerMessage") == [{"requestedMessage": "SignV2GCertificate"}]
    assert (await station.heartbeat())["currentTime"]  # the connection carries on
    page = await get(csms, "/api/v1/audit?action=station.call.result")
    (result,) = [e for e in page["entries"] if e["target"] == "TC-F-27"]
    assert result["detail"] == {"action": "TriggerMessage", "status": "answered", "answer_status": "NotImplemented"}
