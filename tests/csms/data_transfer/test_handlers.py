"""Block P handler and plug-in point called directly (no socket): every vendor is unknown until a
handler is registered for it, in code or by entry point (TC_P_02); customData is accepted by the
schema of every action (TC_P_03)."""

from __future__ import annotations

import json
from importlib import resources
from importlib.metadata import EntryPoint

import pytest
from fake_connection import FakeStation
from vendor_support import VENDOR, parking

from api.csms.data_transfer import vendors
from api.ocpp.validation import SchemaViolation, schemas

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("payload", [
    {"vendorId": "com.example", "messageId": "x", "data": [1]},
    {"vendorId": "org.openchargealliance.costmsg"},
])
async def test_every_vendor_is_unknown(ctx, payload):
    assert await FakeStation(ctx, "CS-1").send("DataTransfer", payload) == {"status": "UnknownVendorId"}


@pytest.fixture
def registry(monkeypatch):
    fresh = vendors.Vendors()
    monkeypatch.setattr(vendors, "registry", fresh)
    return fresh


async def test_a_registered_vendor_answers_and_others_stay_unknown(ctx, registry):
    registry.register(VENDOR, parking)
    station = FakeStation(ctx, "CS-P")
    assert await station.send("DataTransfer", {"vendorId": VENDOR, "messageId": "BayStatus", "data": {"bay": 2}}) == \
        {"status": "Accepted", "data": {"bay": 2, "station": "CS-P"}}
    assert await station.send("DataTransfer", {"vendorId": VENDOR, "messageId": "Other"}) == \
        {"status": "UnknownMessageId"}
    assert await station.send("DataTransfer", {"vendorId": "com.other"}) == {"status": "UnknownVendorId"}
    registry.unregister(VENDOR)
    assert await station.send("DataTransfer", {"vendorId": VENDOR}) == {"status": "UnknownVendorId"}


async def test_entry_points_register_vendors_and_a_broken_one_is_skipped(ctx, registry, monkeypatch, caplog):
    found = [EntryPoint(VENDOR, "vendor_support:parking", vendors.ENTRY_POINT_GROUP),
             EntryPoint("com.broken", "no_such_plugin_module:handle", vendors.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(vendors, "entry_points", lambda group: found if group == vendors.ENTRY_POINT_GROUP else [])
    station = FakeStation(ctx, "CS-E")
    assert (await station.send("DataTransfer", {"vendorId": VENDOR, "messageId": "BayStatus",
                                                "data": {"bay": 1}}))["status"] == "Accepted"
    assert await station.send("DataTransfer", {"vendorId": "com.broken"}) == {"status": "UnknownVendorId"}
    assert any("com.broken" in message for message in caplog.messages)


def test_a_vendor_id_the_schema_cannot_carry_is_refused(registry):
    with pytest.raises(ValueError, match="1 to 255"):
        registry.register("v" * 256, parking)


def _objects(node, where=""):
    """Every object schema with properties, and where it is."""
    if isinstance(node, dict):
        if "properties" in node:
            yield where, node
        for key, sub in node.items():
            yield from _objects(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _objects(sub, f"{where}[{i}]")


def test_tc_p_03_every_object_of_every_message_takes_custom_data_with_fields_of_its_own():
    checked = 0
    for entry in resources.files("ocpp").joinpath("v201", "schemas").iterdir():
        if not entry.name.endswith(".json"):
            continue
        schema = json.loads(entry.read_text(encoding="utf-8"))
        custom = schema["definitions"]["CustomDataType"]
        assert custom["required"] == ["vendorId"] and custom.get("additionalProperties", True) is not False
        for where, node in _objects(schema):
            if where.endswith("CustomDataType"):
                continue
            assert "customData" in node["properties"], f"{entry.name}{where} has no customData"
            checked += 1
    assert checked > 300


@pytest.mark.parametrize(("action", "kind", "payload"), [
    ("Heartbeat", "request", {}),
    ("StatusNotification", "request", {"timestamp": "2025-01-01T00:00:00Z", "connectorStatus": "Available",
                                       "evseId": 1, "connectorId": 1}),
    ("NotifyCustomerInformation", "request", {"data": "", "seqNo": 0, "generatedAt": "2025-01-01T00:00:00Z",
                                              "requestId": 1}),
    ("SetDisplayMessage", "response", {"status": "Accepted"}),
    ("CustomerInformation", "response", {"status": "Accepted"}),
])
def test_tc_p_03_custom_data_passes_validation(action, kind, payload):
    custom = {"vendorId": "com.example", "anything": {"deep": [1, None, "x"]}}
    validate = schemas().validate_request if kind == "request" else schemas().validate_response
    validate(action, {**payload, "customData": custom})
    with pytest.raises(SchemaViolation, match="vendorId"):
        validate(action, {**payload, "customData": {"anything": 1}})
