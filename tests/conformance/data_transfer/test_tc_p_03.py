"""TC_P_03_CSMS — Requests carrying customData are accepted: customData (a vendorId and fields
of the vendor's own) at the top of a message and inside its objects does not make the CSMS refuse
it, neither in what a station sends nor in its answers to the CSMS; what the message says is
still kept."""

from __future__ import annotations

from core_support import booted_station, get, now
from customer_support import customer_information, customer_report, message, sent
from ocpp_support import csms  # noqa: F401 - fixture

CUSTOM = {"vendorId": "com.example", "firmwareBuild": "2025.06-rc1", "nested": {"list": [1, "two", None]}}


async def test_tc_p_03_station_messages_with_custom_data(csms):
    station = await booted_station(csms, "TC-P-03")

    assert "currentTime" in await station.call("Heartbeat", {"customData": CUSTOM})
    assert await station.call("StatusNotification", {
        "timestamp": now(), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1, "customData": CUSTOM}) == {}
    assert await station.call("NotifyEvent", {"generatedAt": now(), "seqNo": 0, "customData": CUSTOM, "eventData": [{
        "eventId": 9, "timestamp": now(), "trigger": "Alerting", "actualValue": "81", "customData": CUSTOM,
        "eventNotificationType": "HardWiredMonitor",
        "component": {"name": "TemperatureSensor", "customData": CUSTOM, "evse": {"id": 1, "customData": CUSTOM}},
        "variable": {"name": "Temperature", "customData": CUSTOM}}]}) == {}
    assert await station.call("DataTransfer", {"vendorId": "com.example", "customData": CUSTOM}) == {
        "status": "UnknownVendorId"}

    (event,) = await get(csms, "/api/v1/stations/TC-P-03/events?component=TemperatureSensor")
    assert (event["actual_value"], event["evse_id"]) == ("81", 1)
    connectors = await get(csms, "/api/v1/stations/TC-P-03/connectors")
    assert connectors[0]["status"] == "Occupied"


async def test_tc_p_03_answers_and_reports_with_custom_data(csms):
    station = await booted_station(csms, "TC-P-03-A")
    plain = station.handlers["SetDisplayMessage"]
    station.handlers["SetDisplayMessage"] = lambda st, payload: {**plain(st, payload), "customData": CUSTOM}
    station.customers.keep("Jane Doe", customer_identifier="0815")
    original = station.customers.parts
    station.customers.parts = lambda request_id, data: [{**part, "customData": CUSTOM}
                                                        for part in original(request_id, data)]

    shown = await sent(csms, station, "SetDisplayMessage", {"message": message(1, "hello")})
    asked = await customer_information(csms, "TC-P-03-A", report=True, clear=False, customer_identifier="0815")

    assert shown == {"status": "Accepted", "status_info": None, "custom_data": CUSTOM}
    assert asked.json()["result"]["status"] == "Accepted", asked.text
    assert (await customer_report(csms, "TC-P-03-A", asked.json()["request_id"]))["data"] == "Jane Doe"
