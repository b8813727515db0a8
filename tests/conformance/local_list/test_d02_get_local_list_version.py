"""D02 — Get the local list version: the operator asks, the station answers, the CSMS keeps the
answer — 0 for a station without a list, its version for one with a list."""

from __future__ import annotations

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
