"""TC_B_02_CSMS — Boot Pending, then Accepted (B02.FR.01, B02.FR.06): the station waits the
`interval` it was given and boots again."""

from __future__ import annotations

import asyncio
import time

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import booted_with_policy


async def test_tc_b_02_pending_then_accepted_after_the_interval(csms):
    station = await booted_with_policy(csms, "TC-B-02", policy="Pending")
    first = await station.boot("PowerUp")
    assert first["status"] == "Pending"
    interval = first["interval"]
    assert interval == 1  # the gateway's boot retry interval in these tests
    answer = await csms.rest.put("/api/v1/stations/TC-B-02/boot-policy", json={"status": "Accepted"},
                                 headers=csms.headers())
    assert answer.status_code == 200
    started = time.monotonic()
    await asyncio.sleep(interval)  # B02: the station waits `interval` before booting again
    second = await station.boot("PowerUp")
    assert second["status"] == "Accepted" and time.monotonic() - started >= interval
    assert await station.status_notification() == {}


async def test_boot_policy_must_be_a_boot_status(csms):
    csms.add_station("TC-B-POLICY")
    answer = await csms.rest.put("/api/v1/stations/TC-B-POLICY/boot-policy", json={"status": "Maybe"},
                                 headers=csms.headers())
    assert answer.status_code == 422
    answer = await csms.rest.put("/api/v1/stations/TC-B-POLICY/boot-policy", json={"status": "Pending"},
                                 headers=csms.headers("auditor"))
    assert answer.status_code == 403
