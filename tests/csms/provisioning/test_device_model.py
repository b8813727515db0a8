"""The device model kept from NotifyReport (no socket): parts in order, a part lost or out of
order detected and recorded, the policy's bound on variables, characteristics and attributes
stored, GetVariables/SetVariables answers kept."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import make_context
from fake_connection import FakeStation, register

from api.core.audit import run_in_session
from api.csms.provisioning import device_model
from policies.model import DeviceModelPolicy

pytestmark = pytest.mark.fast


@pytest.fixture
def any_ctx(tmp_path, db_url, monkeypatch):
    """SQLite and PostgreSQL: the upserts are written per dialect."""
    made = make_context(tmp_path, db_url, monkeypatch)
    yield made
    made.engine.dispose()


def _entry(variable: str, value: str = "1", **characteristics) -> dict:
    return {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": variable},
            "variableAttribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"},
                                  {"type": "Target", "value": value}],
            "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": True, **characteristics}}


def _part(seq_no: int, tbc: bool, *entries: dict, request_id: int = 5) -> dict:
    return {"requestId": request_id, "generatedAt": "2025-01-01T00:00:00Z", "seqNo": seq_no, "tbc": tbc,
            "reportData": list(entries)}


def _report(ctx, station_id: str, request_id: int = 5):
    return run_in_session(ctx, lambda s: device_model.report(s, station_id, request_id))


async def test_a_complete_stream_is_stored_with_characteristics_and_attributes(any_ctx):
    register(any_ctx, "DM-1")
    station = FakeStation(any_ctx, "DM-1")
    assert await station.send("NotifyReport", _part(0, True, _entry("A", "7", minLimit=1, maxLimit=10))) == {}
    assert await station.send("NotifyReport", _part(1, False, _entry("B"))) == {}
    report = _report(any_ctx, "DM-1")
    assert (report.status, report.parts, report.entries, report.missing, report.out_of_order) == \
        ("complete", 2, 2, None, False)
    [(row, attributes)] = run_in_session(any_ctx, lambda s: device_model.browse(s, "DM-1", variable="A"))
    assert (row.min_limit, row.max_limit, row.data_type, row.supports_monitoring) == (1, 10, "integer", True)
    assert [(a.type, a.value, a.mutability) for a in attributes] == [("Actual", "7", "ReadWrite"),
                                                                     ("Target", "7", "ReadWrite")]


async def test_a_lost_part_is_detected_and_recorded(any_ctx):
    register(any_ctx, "DM-LOST")
    station = FakeStation(any_ctx, "DM-LOST")
    await station.send("NotifyReport", _part(0, True, _entry("A")))
    await station.send("NotifyReport", _part(2, True, _entry("C")))      # part 1 never comes
    report = _report(any_ctx, "DM-LOST")
    assert (report.status, report.missing) == ("streaming", "1")     # a gap shows while streaming
    await station.send("NotifyReport", _part(2, True, _entry("C")))      # and part 2 sent twice
    assert _report(any_ctx, "DM-LOST").parts == 2
    await station.send("NotifyReport", _part(3, False, _entry("D")))
    report = _report(any_ctx, "DM-LOST")
    assert (report.status, report.missing, report.last_seq_no) == ("incomplete", "1", 3)
    # It comes late after all: complete, and flagged out of order.
    await station.send("NotifyReport", _part(1, True, _entry("B")))
    report = _report(any_ctx, "DM-LOST")
    assert (report.status, report.missing, report.out_of_order, report.parts) == ("complete", None, True, 4)


@pytest.mark.parametrize("limit", [float("nan"), float("inf"), float("-inf"), 10**400, -(10**400)],
                         ids=["nan", "inf", "-inf", "10**400", "-10**400"])
async def test_a_limit_that_is_no_finite_number_is_stored_as_none(any_ctx, limit):
    # The schema says "number": Python's JSON parser reads NaN, Infinity and 1e400, and an integer
    # of 400 digits. One beyond a double was an InternalError and the part lost; NaN and Infinity
    # were kept on PostgreSQL, where a SetVariables value compared with them passes any check.
    register(any_ctx, "DM-NAN")
    station = FakeStation(any_ctx, "DM-NAN")
    assert await station.send("NotifyReport", _part(0, False, _entry("A", minLimit=limit, maxLimit=limit),
                                                    _entry("B", minLimit=1, maxLimit=10))) == {}
    kept = run_in_session(any_ctx, lambda s: device_model.browse(s, "DM-NAN"))
    assert [(row.variable, row.min_limit, row.max_limit) for row, _ in kept] == [("A", None, None), ("B", 1, 10)]
    assert _report(any_ctx, "DM-NAN").status == "complete"


async def test_a_report_beyond_the_variable_limit_is_truncated_by_name(any_ctx):
    policy = dataclasses.replace(any_ctx.policy, device_model=DeviceModelPolicy(max_variables_per_station=3))
    small = dataclasses.replace(any_ctx, policy=policy)
    register(small, "DM-BIG")
    station = FakeStation(small, "DM-BIG")
    assert await station.send("NotifyReport", _part(0, False, *[_entry(f"V{i}") for i in range(5)])) == {}
    report = _report(small, "DM-BIG")
    assert report.status == "truncated" and report.error.startswith("device_model.max_variables")
    assert len(run_in_session(small, lambda s: device_model.browse(s, "DM-BIG"))) == 3
    # Variables already kept are still updated by a later report.
    await station.send("NotifyReport", _part(0, False, _entry("V0", "9"), request_id=6))
    [(_, attributes)] = run_in_session(small, lambda s: device_model.browse(s, "DM-BIG", variable="V0"))
    assert attributes[0].value == "9"


def test_answers_update_the_stored_values_of_what_was_asked_only(any_ctx):
    register(any_ctx, "DM-GV")
    request = {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}}]}
    answer = {"getVariableResult": [
        {"attributeStatus": "Accepted", "attributeValue": "42", "component": {"name": "OCPPCommCtrlr"},
         "variable": {"name": "OfflineThreshold"}},
        {"attributeStatus": "Accepted", "attributeValue": "x", "component": {"name": "Unasked"},
         "variable": {"name": "Noise"}}]}
    run_in_session(any_ctx, lambda s: device_model.keep_get_variables_answer(s, "DM-GV", request, answer, "t"))
    rows = run_in_session(any_ctx, lambda s: device_model.browse(s, "DM-GV"))
    assert [(r.component, r.variable, a[0].value) for r, a in rows] == [("OCPPCommCtrlr", "OfflineThreshold", "42")]
    written = {"setVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"},
                                    "attributeValue": "77"}]}
    run_in_session(any_ctx, lambda s: device_model.keep_set_variables_answer(s, "DM-GV", written, {"setVariableResult": [
        {"attributeStatus": "Rejected", "component": {"name": "OCPPCommCtrlr"},
         "variable": {"name": "OfflineThreshold"}}]}, "t"))
    [(_, attributes)] = run_in_session(any_ctx, lambda s: device_model.browse(s, "DM-GV"))
    assert attributes[0].value == "42"   # Rejected: not the station's value


def _secret(component: str, variable: str, value: str) -> dict:
    return {"component": {"name": component}, "variable": {"name": variable},
            "variableAttribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"}],
            "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False}}


async def test_no_password_value_is_kept_whichever_message_brings_it(any_ctx):
    """The device model is every role's to read (GET …/device-model); the message log, an officer's
    and auditor's, redacts the value of any variable whose name holds "password". A station's
    report kept even BasicAuthPassword's value, an answer a vendor's own password's."""
    register(any_ctx, "DM-PW")
    station = FakeStation(any_ctx, "DM-PW")
    assert await station.send("NotifyReport", _part(0, False, _secret("SecurityCtrlr", "BasicAuthPassword", "S3cret-1"),
                                                    _secret("WifiCtrlr", "WifiPassword", "S3cret-2"),
                                                    _entry("A", "7"))) == {}
    written = {"setVariableData": [{"component": {"name": "WifiCtrlr"}, "variable": {"name": "GuestPASSWORD"},
                                    "attributeValue": "S3cret-3"}]}
    run_in_session(any_ctx, lambda s: device_model.keep_set_variables_answer(s, "DM-PW", written, {
        "setVariableResult": [{"attributeStatus": "Accepted", "component": {"name": "WifiCtrlr"},
                               "variable": {"name": "GuestPASSWORD"}}]}, "t"))
    read = {"getVariableData": [{"component": {"name": "WifiCtrlr"}, "variable": {"name": "WifiPassword"}}]}
    run_in_session(any_ctx, lambda s: device_model.keep_get_variables_answer(s, "DM-PW", read, {"getVariableResult": [
        {"attributeStatus": "Accepted", "attributeValue": "S3cret-4", "component": {"name": "WifiCtrlr"},
         "variable": {"name": "WifiPassword"}}]}, "t"))
    kept = {row.variable: [(a.type, a.value, a.mutability) for a in attributes]
            for row, attributes in run_in_session(any_ctx, lambda s: device_model.browse(s, "DM-PW"))}
    # What the station reported about them stays; their values are not kept.
    assert kept == {"BasicAuthPassword": [("Actual", None, "ReadWrite")],
                    "WifiPassword": [("Actual", None, "ReadWrite")], "A": [("Actual", "7", "ReadWrite"),
                                                                          ("Target", "7", "ReadWrite")]}
