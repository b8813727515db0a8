"""TC_E_03 — Local start transaction, cable plugged in first (E02).

EVConnectedPreSession (StatusNotification/NotifyEvent Occupied, TransactionEvent Started
CablePluggedIn, EVConnected), then Authorized (Authorize, Updated Authorized with the token:
the answer carries Accepted) and EnergyTransferStarted (Updated ChargingStateChanged,
Charging). Stored: one ongoing transaction on EVSE 1 connector 1 with the token, its three
events in seqNo order with no gap, and the charging-state timeline.
"""

from __future__ import annotations

from charging_support import (
    ACCEPTED,
    VALID_TOKEN,
    authorized,
    charging_station,
    energy_transfer_started,
    ev_connected_pre_session,
    shown,
    stored,
    trail,
)
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_03_local_start_cable_plugged_in_first(csms):
    charging = await charging_station(csms, "TC-E-03")

    assert await ev_connected_pre_session(charging) == {}
    assert await authorized(charging) == {"idTokenInfo": ACCEPTED}
    assert await energy_transfer_started(charging) == {}

    row, events, _ = await stored(csms, "TC-E-03", charging.transaction_id)
    assert (row.evse_id, row.connector_id, row.id_token, row.ended_at) == (1, 1, VALID_TOKEN["idToken"], None)
    assert row.start_trigger == "CablePluggedIn" and row.charging_state == "Charging"
    assert trail(events) == [("Started", "CablePluggedIn", "EVConnected"), ("Updated", "Authorized", None),
                             ("Updated", "ChargingStateChanged", "Charging")]
    view = await shown(csms, "TC-E-03", charging.transaction_id)
    assert view["state"] == "ongoing" and view["missing_seq_nos"] == [] and view["seq_duplicates"] == 0
    assert [s["charging_state"] for s in view["charging_states"]] == ["EVConnected", "Charging"]
