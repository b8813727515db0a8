"""D02 — Get the local list version: the operator asks, the station answers, the CSMS keeps the
answer — 0 for a station without a list, its version for one with a list."""

from __future__ import annotations

import json

import pytest
from authorization_support import StationList, booted_station
from ocpp_support import csms  # noqa: F401 - fixture
from trust_anchor_support import audit


@pytest.mark.parametrize(("version", "case"), [(0, "D02-NO-LIST"), (7, "D02-LIST")])
async def test_d02_version_read_and_kept(csms, version, case):
    station = await booted_station(csms, case)
    StationList(station, version=version)

    answer = await csms.rest.post(f"/api/v1/stations/{case}/local-list/version", headers=csms.headers("operator"))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"station_id": case, "reported_version": version}
    kept = (await csms.rest.get(f"/api/v1/stations/{case}/local-list", headers=csms.headers("auditor"))).json()
    assert kept["reported_version"] == version and kept["reported_at"] is not None
    (entry,) = audit(csms, "local_list.version", case)
    assert entry.outcome == "success"


async def test_d02_typed_command_reaches_the_station_too(csms):
    station = await booted_station(csms, "D02-TYPED")
    StationList(station, version=3)
    answer = await csms.rest.post("/api/v1/stations/D02-TYPED/commands/GetLocalListVersion",
                                  headers=csms.headers("operator"))
    assert answer.json()["result"]["version_number"] == 3
    # Kept as the REST route keeps it: whichever door asked, the answer is the station's version.
    kept = (await csms.rest.get("/api/v1/stations/D02-TYPED/local-list", headers=csms.headers("auditor"))).json()
    assert kept["reported_version"] == 3


@pytest.mark.parametrize(("path", "action"), [("local-list/version", "local_list.version"),
                                              ("local-list", "local_list.send")])
async def test_an_ask_refused_for_the_station_is_audited(csms, path, action):
    """Refused for a station not registered (404) or not connected (409): each an audit entry,
    as every refused attempt is; they were none."""
    registered = await csms.rest.post("/api/v1/stations", json={"id": "D02-AWAY", "security_profile": 1},
                                      headers=csms.headers("operator"))
    assert registered.status_code == 201, registered.text
    for station_id, status, rule in (("D02-NO-SUCH", 404, "station.unknown"),
                                     ("D02-AWAY", 409, "station.not_connected")):
        refused = await csms.rest.post(f"/api/v1/stations/{station_id}/{path}", json={"mode": "full"},
                                       headers=csms.headers("operator"))
        assert refused.status_code == status and refused.json()["rule"] == rule, refused.text
        (entry,) = audit(csms, action, station_id)
        assert entry.outcome == "refused" and json.loads(entry.detail)["rule"] == rule
