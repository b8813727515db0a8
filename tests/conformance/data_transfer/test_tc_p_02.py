"""TC_P_02_CSMS — Incoming DataTransfer (P02): a vendorId no handler is registered for is
answered UnknownVendorId; a registered vendor's handler answers UnknownMessageId for a message
it does not know, Rejected for data it refuses, Accepted (with data) otherwise. The other way,
the CSMS's DataTransfer (P01) is a typed command whose answer is read."""

from __future__ import annotations

import pytest
from core_support import booted_station, received
from customer_support import sent
from ocpp_support import csms  # noqa: F401 - fixture
from vendor_support import VENDOR, parking

from api.csms.data_transfer import vendors


@pytest.fixture
def parking_vendor():
    vendors.registry.register(VENDOR, parking)
    yield
    vendors.registry.unregister(VENDOR)


async def test_tc_p_02_unknown_vendor(csms):
    station = await booted_station(csms, "TC-P-02")
    answer = await station.vendors.send(station, "com.example.unknown", "Hello", {"x": 1})
    assert answer == {"status": "UnknownVendorId"}


async def test_tc_p_02_registered_vendor_answers(csms, parking_vendor):
    station = await booted_station(csms, "TC-P-02-V")
    assert await station.vendors.send(station, VENDOR, "BayStatus", {"bay": 4}) == {
        "status": "Accepted", "data": {"bay": 4, "station": "TC-P-02-V"}}
    assert await station.vendors.send(station, VENDOR, "Reboot") == {"status": "UnknownMessageId"}
    assert await station.vendors.send(station, VENDOR, "BayStatus", "four") == {"status": "Rejected"}


async def test_p01_data_transfer_to_the_station(csms):
    station = await booted_station(csms, "P-01")
    station.vendors.handlers[VENDOR] = lambda message_id, data: {"status": "Accepted", "data": {"echo": data}}

    known = await sent(csms, station, "DataTransfer", {"vendor_id": VENDOR, "message_id": "Ping", "data": [1, 2]})
    unknown = await sent(csms, station, "DataTransfer", {"vendor_id": "com.example.unknown"})

    assert (known["status"], known["data"]) == ("Accepted", {"echo": [1, 2]})
    assert unknown["status"] == "UnknownVendorId"
    assert received(station, "DataTransfer") == [{"vendorId": VENDOR, "messageId": "Ping", "data": [1, 2]},
                                                 {"vendorId": "com.example.unknown"}]
