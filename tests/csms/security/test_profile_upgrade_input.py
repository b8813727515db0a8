"""The A05 upgrade (api/csms/security/profile_upgrade.py) facing what it does not expect: a
NetworkConfigurationPriority it cannot use, and a second upgrade of the same station while the
first runs. Each is an answer that names the problem, with nothing armed and nothing half-sent;
never a 500. Real server, real simulated station on profile 1 (ws + Basic), operator over REST."""

from __future__ import annotations

import asyncio
import json

import pytest
from ocpp_support import tls_csms  # noqa: F401 - fixture
from trust_anchor_support import audit

from simulator.device_model import DeviceModel

STATION = "UPG-INPUT"


async def _station_with_our_root(csms):
    password = csms.add_station(STATION, profile=1)
    station = csms.simulator(STATION, profile=1, password=password)
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"
    await csms.connected(STATION)
    installed = await csms.rest.post(f"/api/v1/stations/{STATION}/installed-certificates",
                                     json={"certificate_type": "CSMSRootCertificate", "source": "csms-root"},
                                     headers=csms.headers("officer"))
    assert installed.status_code == 200 and installed.json()["status"] == "Accepted", installed.text
    return station


def _upgrade(csms, role: str = "operator", **body):
    return csms.rest.post(f"/api/v1/stations/{STATION}/security-profile-upgrade", json=body or None,
                          headers=csms.headers(role))


def _sent(station, *actions):
    return [name for name, _ in station.received if name in actions]


@pytest.mark.parametrize("priority", [
    "1,\u00b2",                                    # str.isdigit() says yes, int() says no
    ",".join(str(slot) for slot in range(100)),    # every slot the upgrade may use is taken
    "1," + "9" * 999,                              # with the new slot first, too long for SetVariables
    "1,wifi",
], ids=["superscript-digit", "no-free-slot", "too-long", "not-a-slot"])
async def test_a_priority_list_the_upgrade_cannot_use_ends_it_by_name_before_anything_is_sent(tls_csms, priority):
    csms = tls_csms
    station = await _station_with_our_root(csms)
    station.device_model = DeviceModel({**station.certificates.variables(),
                                        ("OCPPCommCtrlr", "NetworkConfigurationPriority"): lambda: priority})

    answer = await _upgrade(csms)

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["armed"] is False
    (step,) = result["steps"]
    assert (step["step"], step["status"], step["rule"]) == (
        "GetVariables NetworkConfigurationPriority", "Unusable", "upgrade.priority")
    assert not _sent(station, "SetNetworkProfile", "SetVariables", "Reset")
    assert csms.station_row(STATION).pending_security_profile is None


async def test_a_second_upgrade_while_one_runs_is_refused_and_audited(tls_csms):
    csms = tls_csms
    station = await _station_with_our_root(csms)
    answering = asyncio.Event()
    take_profile = station.handlers["SetNetworkProfile"]

    async def slow_set_network_profile(station, payload):
        await answering.wait()
        return take_profile(station, payload)

    station.handlers["SetNetworkProfile"] = slow_set_network_profile
    first = asyncio.create_task(_upgrade(csms))
    await csms.until(lambda: bool(_sent(station, "SetNetworkProfile")))

    second = await _upgrade(csms, target=2)

    assert second.status_code == 409, second.text
    assert second.json()["rule"] == "upgrade.busy"
    answering.set()
    done = await first
    assert done.status_code == 200 and done.json()["armed"], done.text
    assert _sent(station, "SetNetworkProfile") == ["SetNetworkProfile"], "the second sent nothing"
    assert csms.station_row(STATION).pending_security_profile == 2
    refused = [e for e in audit(csms, "station.profile.upgrade", STATION) if e.outcome == "refused"]
    assert [json.loads(e.detail).get("rule") for e in refused] == ["upgrade.busy"]

    # Once the first is over, the station may be upgraded again.
    station.handlers["SetNetworkProfile"] = take_profile
    again = await _upgrade(csms)
    assert again.status_code == 200 and again.json()["armed"], again.text


async def test_a_csms_url_whose_scheme_does_not_fit_the_target_profile_is_refused_before_anything_is_sent(tls_csms):
    csms = tls_csms
    station = await _station_with_our_root(csms)

    # Profile 2 over ws:// would send the station's Basic-auth password in clear.
    answer = await _upgrade(csms, "officer", csms_url=f"ws://{csms.ctx.settings.fqdn}:9000/ocpp")

    assert answer.status_code == 422, answer.text
    assert answer.json()["rule"] == "call.network_profile.url"
    assert not _sent(station, "SetNetworkProfile", "SetVariables", "Reset")
    assert csms.station_row(STATION).pending_security_profile is None
    (refused,) = [e for e in audit(csms, "station.profile.upgrade", STATION) if e.outcome == "refused"]
    assert json.loads(refused.detail)["rule"] == "call.network_profile.url"


async def test_another_csms_address_needs_an_officer_as_on_the_generic_set_network_profile(tls_csms):
    """The generic SetNetworkProfile is an officer's; through the upgrade an operator could send
    the station to any wss:// server."""
    csms = tls_csms
    station = await _station_with_our_root(csms)

    answer = await _upgrade(csms, csms_url="wss://elsewhere.example:443/ocpp")

    assert answer.status_code == 403, answer.text
    assert answer.json()["rule"] == "upgrade.csms_url" and answer.json()["required_roles"] == ["officer"]
    assert not _sent(station, "SetNetworkProfile", "SetVariables", "Reset")
    (refused,) = [e for e in audit(csms, "station.profile.upgrade", STATION) if e.outcome != "success"]
    assert json.loads(refused.detail)["rule"] == "upgrade.csms_url"
    # Our own address, spelled out, is any upgrader's.
    own = f"wss://{csms.ctx.settings.fqdn}:{csms.ctx.settings.ocpp_wss_port}/ocpp"
    assert (await _upgrade(csms, csms_url=own)).json()["armed"] is True
