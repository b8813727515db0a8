"""A FullInventory whose part is lost, over a real connection: every part acknowledged, the
report kept as incomplete naming the seqNo never received; the same part arriving late
completes it and marks it out of order."""

from __future__ import annotations

import asyncio

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import booted_station, command, eventually, get, report_part


async def test_a_lost_part_is_detected_then_filled(csms):
    station = await booted_station(csms, "PARTS-LOST")
    sent_parts: asyncio.Future = asyncio.get_running_loop().create_future()

    def get_base_report(st, payload):
        async def stream():
            answers = [await st.call("NotifyReport", report_part(payload["requestId"], seq_no, seq_no < 3,
                                                                 f"Variable{seq_no}", str(seq_no)))
                       for seq_no in (0, 2, 3)]   # part 1 lost on the way
            sent_parts.set_result(answers)
        st.after_reply(stream)
        return {"status": "Accepted"}
    station.handlers["GetBaseReport"] = get_base_report

    answer = await command(csms, "PARTS-LOST", "GetBaseReport", {"request_id": 21, "report_base": "FullInventory"})
    assert answer.json()["result"]["status"] == "Accepted"
    assert await asyncio.wait_for(sent_parts, 5) == [{}, {}, {}]   # acknowledged all the same

    async def reported():
        rows = await get(csms, "/api/v1/stations/PARTS-LOST/device-reports")
        return rows[0] if rows and rows[0]["status"] != "requested" else None
    report = await eventually(reported)
    assert (report["status"], report["missing"], report["parts"], report["last_seq_no"]) == ("incomplete", "1", 3, 3)

    assert await station.call("NotifyReport", report_part(21, 1, True, "Variable1", "1")) == {}
    (report,) = await get(csms, "/api/v1/stations/PARTS-LOST/device-reports")
    assert (report["status"], report["missing"], report["out_of_order"], report["parts"]) == ("complete", None, True, 4)
    variables = await get(csms, "/api/v1/stations/PARTS-LOST/device-model?component=SecurityCtrlr")
    assert sorted(v["variable"] for v in variables) == [f"Variable{n}" for n in range(4)]
