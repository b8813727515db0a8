"""Updated events answered once journaled (storage/write_behind.py), through a real station and the
REST API: what the station was answered is in every read that follows, though not yet stored
when the answer left, and a RequestStopTransaction's check knows its transaction; an event that
carries an idToken is stored before its answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from authorization_support import add_token, booted_station, transaction_event
from core_support import answer, command, received
from ocpp_support import open_csms

from api.core.settings import GatewayConfig

# A second before the journaled events are stored: every read below comes long before that.
LATE = GatewayConfig(boot_retry_interval=1, call_timeout=5, write_behind_ms=1000)


@pytest.fixture
async def late_csms(sqlite_pki) -> AsyncIterator:
    async for made in open_csms(sqlite_pki, LATE):
        yield made


def _updated(seq_no: int, wh: float, **extra) -> dict:
    payload = transaction_event("Updated", "MeterValuePeriodic", seq_no, "TX-WB", **extra)
    payload["meterValue"] = [{"timestamp": f"2025-01-01T00:0{seq_no}:00Z", "sampledValue": [{"value": wh}]}]
    return payload


async def test_what_a_station_was_answered_is_in_the_rest_reads_that_follow(late_csms):
    csms = late_csms
    station = await booted_station(csms, "CS-WB")
    assert await station.call("TransactionEvent", transaction_event("Started", "Authorized", 0, "TX-WB")) == {}
    for seq_no in (1, 2, 3):
        assert await station.call("TransactionEvent", _updated(seq_no, 1000.0 + seq_no)) == {}
    assert csms.gateway.write_behind.waiting == 3   # answered, not stored yet

    headers = csms.headers("auditor")
    detail = (await csms.rest.get("/api/v1/transactions/CS-WB/TX-WB", headers=headers)).json()
    assert [event["seq_no"] for event in detail["event_list"]] == [0, 1, 2, 3]
    assert (detail["events"], detail["meter_last_wh"]) == (4, 1003.0)
    listed = (await csms.rest.get("/api/v1/transactions?station_id=CS-WB", headers=headers)).json()
    assert [row["events"] for row in listed["transactions"]] == [4]
    values = (await csms.rest.get("/api/v1/meter-values?station_id=CS-WB", headers=headers)).json()
    assert sorted(value["value"] for value in values["meter_values"]) == [1001.0, 1002.0, 1003.0]


async def test_an_updated_event_with_an_id_token_is_stored_before_its_answer(late_csms):
    csms = late_csms
    await add_token(csms, "04WB")
    station = await booted_station(csms, "CS-WB")
    await station.call("TransactionEvent", transaction_event("Started", "Authorized", 0, "TX-WB"))
    answer = await station.call("TransactionEvent",
                                _updated(1, 1001.0) | {"idToken": {"idToken": "04WB", "type": "ISO14443"}})
    assert answer["idTokenInfo"]["status"] == "Accepted"   # the store's answer
    assert csms.gateway.write_behind.waiting == 0


async def test_a_transaction_known_only_from_answered_events_can_be_stopped_at_once(late_csms):
    csms = late_csms
    station = await booted_station(csms, "CS-WB")
    # Its Started was lost: the CSMS first hears of the transaction in Updated events.
    assert await station.call("TransactionEvent", _updated(1, 1001.0)) == {}
    assert csms.gateway.write_behind.waiting == 1
    answer(station, "RequestStopTransaction", {"status": "Accepted"})
    stopped = await command(csms, "CS-WB", "RequestStopTransaction", {"transaction_id": "TX-WB"})
    assert stopped.status_code == 200 and stopped.json()["result"]["status"] == "Accepted", stopped.text
    assert received(station, "RequestStopTransaction") == [{"transactionId": "TX-WB"}]
