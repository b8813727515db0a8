"""F03 — RequestStopTransaction is refused before it is sent when the transaction is unknown to
us or has already ended (issue 11: "refused before sending"), on every door: the typed command,
the raw call, a stored job. A running transaction the station reported is stopped as asked."""

from __future__ import annotations

from core_support import Transactions, answer, booted_station, command, received
from ocpp_support import csms  # noqa: F401 - fixture


async def test_an_unknown_transaction_is_refused_on_every_door(csms):
    station = await booted_station(csms, "F03-UNKNOWN")

    typed = await command(csms, "F03-UNKNOWN", "RequestStopTransaction", {"transaction_id": "never-seen"})
    raw = await csms.post_call("F03-UNKNOWN", "RequestStopTransaction", {"transactionId": "never-seen"})
    job = await csms.post_call("F03-UNKNOWN", "RequestStopTransaction", {"transactionId": "never-seen"},
                               mode="async")

    for refused in (typed, raw, job):
        assert refused.status_code == 422, refused.text
        assert refused.json()["rule"] == "call.remote_stop.unknown_transaction"
    assert received(station, "RequestStopTransaction") == []


async def test_an_ended_transaction_is_refused_a_running_one_is_stopped(csms):
    station = await booted_station(csms, "F03-ENDED")
    finished, running = Transactions(station), Transactions(station, evse_id=1)
    await finished.send("Started", "CablePluggedIn")
    await finished.send("Ended", "EVDeparted", info={"stoppedReason": "EVDisconnected"})
    await running.send("Started", "CablePluggedIn", info={"chargingState": "Charging"})
    answer(station, "RequestStopTransaction", {"status": "Accepted"})

    ended = await command(csms, "F03-ENDED", "RequestStopTransaction", {"transaction_id": finished.transaction_id})
    stopped = await command(csms, "F03-ENDED", "RequestStopTransaction", {"transaction_id": running.transaction_id})

    assert ended.status_code == 422 and ended.json()["rule"] == "call.remote_stop.ended", ended.text
    assert stopped.status_code == 200 and stopped.json()["result"]["status"] == "Accepted", stopped.text
    assert received(station, "RequestStopTransaction") == [{"transactionId": running.transaction_id}]
