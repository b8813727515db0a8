"""TC_B_42_CSMS — SetNetworkProfile Accepted (B09): the request with configurationSlot,
messageTimeout, ocppCsmsUrl, ocppInterface, ocppTransport JSON, ocppVersion OCPP20 and
securityProfile; kept with the station's answer."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import booted_station, command, get, received

PROFILE = {"configuration_slot": 2, "connection_data": {
    "ocpp_version": "OCPP20", "ocpp_transport": "JSON", "ocpp_csms_url": "ws://127.0.0.1:9000/ocpp",
    "message_timeout": 30, "security_profile": 1, "ocpp_interface": "Wired0"}}


async def network_profile_case(csms, case: str, answer: str | None) -> dict:
    station = await booted_station(csms, case)
    station.network.answer = answer
    sent = await command(csms, case, "SetNetworkProfile", PROFILE, role="officer")
    assert sent.status_code == 200, sent.text
    (request,) = received(station, "SetNetworkProfile")
    assert request["configurationSlot"] == 2
    assert request["connectionData"] == {"ocppVersion": "OCPP20", "ocppTransport": "JSON",
                                         "ocppCsmsUrl": "ws://127.0.0.1:9000/ocpp", "messageTimeout": 30,
                                         "securityProfile": 1, "ocppInterface": "Wired0"}
    (row,) = await get(csms, f"/api/v1/stations/{case}/network-profiles")
    assert row["status"] == sent.json()["result"]["status"] and row["configuration_slot"] == 2
    return row


async def test_tc_b_42(csms):
    row = await network_profile_case(csms, "TC-B-42", None)
    assert row["status"] == "Accepted" and row["ocpp_csms_url"] == "ws://127.0.0.1:9000/ocpp"


async def test_an_operator_may_not_change_where_a_station_connects(csms):
    await booted_station(csms, "TC-B-42-ROLE")
    sent = await command(csms, "TC-B-42-ROLE", "SetNetworkProfile", PROFILE, role="operator")
    assert sent.status_code == 403
    assert await get(csms, "/api/v1/stations/TC-B-42-ROLE/network-profiles") == []
