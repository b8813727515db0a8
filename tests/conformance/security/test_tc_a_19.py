"""TC_A_19 — upgrade the security profile (A05), 1 → 2 → 3, with every prerequisite installed by
ChargeCA itself: our CSMS root through InstallCertificate, the station certificate through
TriggerMessage SignChargingStationCertificate. After each upgrade the station is accepted on the
new profile and refused on the old one for good (A05.FR.07). Real listeners, real TLS, the
simulator as the station, operator actions over REST."""

from __future__ import annotations

import pytest
from ocpp_support import tls_csms  # noqa: F401 - fixture

from simulator.station import StationRefused

STATION = "TC-A-19"


async def _upgrade(csms, **body):
    return await csms.rest.post(f"/api/v1/stations/{STATION}/security-profile-upgrade", json=body or None,
                                headers=csms.headers("operator"))


def _sent(station, action):
    return [payload for name, payload in station.received if name == action]


async def _reboot_on(csms, station, profile: int, url: str) -> None:
    """What the station does after Reset: reconnect with the preferred network profile."""
    await station.close()
    await csms.until(lambda: csms.gateway.session(STATION) is None)
    station.profile, station.url = profile, f"{url}/{STATION}"
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"
    await csms.connected(STATION)


async def _refused_on(csms, station, profile: int, url: str) -> None:
    await station.close()
    await csms.until(lambda: csms.gateway.session(STATION) is None)
    station.profile, station.url = profile, f"{url}/{STATION}"
    with pytest.raises(StationRefused) as refused:
        await station.connect()
    assert refused.value.status == 403


async def test_tc_a_19_upgrade_1_to_2_to_3(tls_csms):
    csms = tls_csms
    password = csms.add_station(STATION, profile=1)
    station = csms.simulator(STATION, profile=1, password=password)
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"
    await csms.connected(STATION)

    # Prerequisite missing: refused before anything is sent to the station.
    refused = await _upgrade(csms)
    assert refused.status_code == 422 and refused.json()["rule"] == "upgrade.no_csms_root"
    assert not _sent(station, "SetNetworkProfile")

    installed = await csms.rest.post(f"/api/v1/stations/{STATION}/installed-certificates",
                                     json={"certificate_type": "CSMSRootCertificate", "source": "csms-root"},
                                     headers=csms.headers("officer"))
    assert installed.status_code == 200 and installed.json()["status"] == "Accepted", installed.text

    # 1 → 2
    answer = await _upgrade(csms, message_timeout=30, ocpp_interface="Wired0")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["armed"] and [s["status"] for s in result["steps"]] == ["Accepted", "Accepted", "Accepted"]
    (profile_request,) = _sent(station, "SetNetworkProfile")
    data = profile_request["connectionData"]
    assert (data["messageTimeout"], data["ocppInterface"], data["ocppTransport"], data["ocppVersion"],
            data["securityProfile"]) == (30, "Wired0", "JSON", "OCPP20", 2)
    priority = _sent(station, "SetVariables")[-1]["setVariableData"][0]
    assert priority["variable"]["name"] == "NetworkConfigurationPriority"
    assert priority["attributeValue"].split(",")[0] == str(profile_request["configurationSlot"])
    assert _sent(station, "Reset")

    await _reboot_on(csms, station, 2, csms.wss_url)
    assert csms.station_row(STATION).security_profile == 2
    await _refused_on(csms, station, 1, csms.ws_url)
    await _reboot_on(csms, station, 2, csms.wss_url)

    # 2 → 3: first the station certificate, by the RenewChargingStationCertificate state.
    refused = await _upgrade(csms)
    assert refused.status_code == 422 and refused.json()["rule"] == "upgrade.no_station_certificate"
    trigger = await csms.post_call(STATION, "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
    assert trigger.status_code == 200 and trigger.json()["response"]["status"] == "Accepted", trigger.text
    await csms.until(lambda: bool(_sent(station, "CertificateSigned")), timeout=15)
    assert station.client_cert is not None, "the station installed the certificate ChargeCA issued"

    answer = await _upgrade(csms)
    assert answer.status_code == 200 and answer.json()["armed"], answer.text
    await _reboot_on(csms, station, 3, csms.wss_url)
    assert csms.station_row(STATION).security_profile == 3
    await _refused_on(csms, station, 2, csms.wss_url)
    await _reboot_on(csms, station, 3, csms.wss_url)


async def test_upgrade_refusals_name_their_rule(tls_csms):
    csms = tls_csms
    password = csms.add_station(STATION, profile=1)
    station = csms.simulator(STATION, profile=1, password=password)
    await station.connect()
    await station.boot()
    await csms.connected(STATION)
    too_high = await _upgrade(csms, target=3)
    assert too_high.status_code == 422 and too_high.json()["rule"] == "upgrade.no_csms_root"
    station.network.answer = "Rejected"
    await csms.rest.post(f"/api/v1/stations/{STATION}/installed-certificates",
                         json={"certificate_type": "CSMSRootCertificate", "source": "csms-root"},
                         headers=csms.headers("officer"))
    answer = await _upgrade(csms)
    assert answer.status_code == 200
    assert answer.json()["armed"] is False and answer.json()["steps"][-1] == {
        "step": "SetNetworkProfile", "status": "Rejected", "slot": answer.json()["slot"]}
    assert csms.station_row(STATION).pending_security_profile is None, "nothing armed after a refusal"
    assert not _sent(station, "Reset")
    not_connected = await csms.rest.post("/api/v1/stations/NOBODY/security-profile-upgrade",
                                         headers=csms.headers("operator"))
    assert not_connected.status_code == 409
