"""TC_B_21_CSMS — Reset OnIdle while a transaction runs (B11.FR.08): the station
answers Scheduled, ends the transaction, reboots (BootNotification ScheduledReset); the kept Reset
stays Scheduled until that boot closes it."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import reset_case


async def test_tc_b_21(csms):
    row = await reset_case(csms, "TC-B-21", "OnIdle", None, transaction=True, answer_status="Scheduled", boot_reason="ScheduledReset")
    assert row["type"] == "OnIdle" and row["evse_id"] is None and row["answer"] == "Scheduled"
    assert row["boot_reason"] == "ScheduledReset" and row["rebooted_at"] is not None


async def test_a_triggered_boot_does_not_close_a_scheduled_reset(csms):
    from core_support import trigger
    station = await reset_case(csms, "TC-B-21-TRIG", "OnIdle", 1, transaction=False, answer_status="Scheduled",
                               boot_reason=None)
    assert station["status"] == "Scheduled"
    sim = next(s for s in csms.stations if getattr(s, "identity", None) == "TC-B-21-TRIG")
    response, _answers = await trigger(csms, sim, "BootNotification", then=lambda st, _p: st.boot("Triggered"))
    assert response.status_code == 200
    rows = (await csms.rest.get("/api/v1/stations/TC-B-21-TRIG/resets", headers=csms.headers())).json()
    assert rows[0]["status"] == "Scheduled"
