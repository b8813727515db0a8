"""TC_B_08_CSMS (informative) — GetVariables split by ItemsPerMessage (B06.FR.05): the station
reported ItemsPerMessage[GetVariables] = 4; 5 values asked go as 4 + 1, and the operator gets
one result with the 5 answers in the order asked. A station that takes 2,000 bytes per
SetVariables gets as many messages as that takes."""

from __future__ import annotations

from core_support import eventually
from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import command, entry, inventoried, received


async def test_tc_b_08_four_plus_one(csms):
    station = await inventoried(csms, "TC-B-08", lambda st: st.device_model.limit_messages("GetVariables", items=4))
    names = ["OfflineThreshold", "HeartbeatInterval", "NetworkConfigurationPriority", "Missing1", "Missing2"]

    answer = await command(csms, "TC-B-08", "GetVariables",
                           {"get_variable_data": [entry("OCPPCommCtrlr", name) for name in names]})

    assert answer.status_code == 200, answer.text
    sent = received(station, "GetVariables")
    assert [len(request["getVariableData"]) for request in sent] == [4, 1]
    results = answer.json()["result"]["get_variable_result"]
    assert [r["variable"]["name"] for r in results] == names
    assert [r["attribute_status"] for r in results] == ["Accepted"] * 3 + ["UnknownVariable"] * 2


async def test_without_splitting_the_station_refuses(csms):
    # What the station does with an oversize request: proof the limit is real in the simulator.
    station = await inventoried(csms, "TC-B-08-RAW", lambda st: st.device_model.limit_messages("GetVariables",
                                                                                                 items=4))
    raw = await csms.post_call("TC-B-08-RAW", "GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": f"V{i}"}} for i in range(5)]})
    # The raw door splits too: the same path as the typed command.
    assert raw.status_code == 200 and raw.json()["status"] == "answered"
    assert [len(r["getVariableData"]) for r in received(station, "GetVariables")] == [4, 1]
    oversize = {"getVariableData": [{"component": {"name": "C"}, "variable": {"name": f"V{i}"}} for i in range(5)]}
    try:
        station.device_model.get_variables(oversize)
    except Exception as exc:  # noqa: BLE001
        assert getattr(exc, "code", None) == "OccurrenceConstraintViolation"
    else:
        raise AssertionError("the simulated station took 5 entries with ItemsPerMessage 4")


async def test_set_variables_split_by_bytes(csms):
    station = await inventoried(csms, "TC-B-08-BYTES",
                                lambda st: st.device_model.limit_messages("SetVariables", items=20, size=2000))
    values = [entry("SampledDataCtrlr", f"Setting{i:02}", "x" * 60) for i in range(20)]

    answer = await command(csms, "TC-B-08-BYTES", "SetVariables", {"set_variable_data": values})

    assert answer.status_code == 200, answer.text
    sent = received(station, "SetVariables")
    assert len(sent) > 1 and sum(len(r["setVariableData"]) for r in sent) == 20
    assert all(len(r["setVariableData"]) <= 20 for r in sent)
    assert [r["variable"]["name"] for r in answer.json()["result"]["set_variable_result"]] == \
        [f"Setting{i:02}" for i in range(20)]


async def test_one_entry_beyond_bytes_per_message_is_refused_by_name(csms):
    station = await inventoried(csms, "TC-B-08-HUGE",
                                lambda st: st.device_model.limit_messages("SetVariables", size=300))
    answer = await command(csms, "TC-B-08-HUGE", "SetVariables",
                           {"set_variable_data": [entry("DisplayCtrlr", "Greeting", "y" * 400)]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["rule"] == "call.variables.bytes_per_message"
    assert "DisplayCtrlr.Greeting" in answer.json()["error"] and "300" in answer.json()["error"]
    assert received(station, "SetVariables") == []


async def test_a_job_is_split_the_same_way(csms):
    # As a job the parts are stored and sent by the outbox (tests/csms/provisioning/test_split_jobs.py).
    station = await inventoried(csms, "TC-B-08-JOB", lambda st: st.device_model.limit_messages("GetVariables",
                                                                                                 items=4))
    names = ["OfflineThreshold", "HeartbeatInterval", "NetworkConfigurationPriority", "Missing1", "Missing2"]
    answer = await csms.rest.post("/api/v1/stations/TC-B-08-JOB/commands/GetVariables?mode=job", json={
        "get_variable_data": [entry("OCPPCommCtrlr", name) for name in names]}, headers=csms.headers())
    assert answer.status_code == 202 and [p["items"] for p in answer.json()["parts"]] == [4, 1], answer.text

    async def answered():
        shown = (await csms.rest.get(answer.headers["Location"], headers=csms.headers("auditor"))).json()
        return shown if shown["status"] == "answered" else None
    shown = await eventually(answered, 10)
    assert [len(r["getVariableData"]) for r in received(station, "GetVariables")] == [4, 1]
    assert [r["variable"]["name"] for r in shown["result"]["get_variable_result"]] == names


async def test_a_station_of_20_items_and_2000_bytes_per_message(csms):
    # The certified station: at most 20 items and 2,000 bytes per Get/SetVariables. The
    # simulator answers a larger message with a CALLERROR, so an answer for every entry shows
    # that each message fitted.
    def limits(st):
        for action in ("GetVariables", "SetVariables"):
            st.device_model.limit_messages(action, items=20, size=2000)
    station = await inventoried(csms, "TC-B-08-TRIALOG", limits)
    names = [f"LongVariableNameNumber{n:03}" for n in range(45)]

    answer = await command(csms, "TC-B-08-TRIALOG", "GetVariables",
                           {"get_variable_data": [entry("SampledDataCtrlr", name) for name in names]})

    assert answer.status_code == 200, answer.text
    assert len(answer.json()["result"]["get_variable_result"]) == 45
    sent = received(station, "GetVariables")
    assert len(sent) >= 3 and all(len(r["getVariableData"]) <= 20 for r in sent)
    assert [d["variable"]["name"] for r in sent for d in r["getVariableData"]] == names
