"""GET /metrics after real traffic: a station refused once, then connected over ws with Basic auth,
its messages (one the CSMS does not know), certificates issued and revoked, a waiting outbox row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import websockets
from authorization_support import booted_station, transaction_event
from csr_factory import make_csr
from ocpp_support import SETUP, Csms, open_csms
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from api.core.audit import run_in_session
from api.csms.security.authority_service import revoke_certificate
from storage.certificates import IssuedCertificate
from storage.outbox import CallStatus, OutboundCall
from storage.types import utcnow

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def csms(pki) -> AsyncIterator[Csms]:
    """On SQLite and on PostgreSQL: the state is read with SQL of its own."""
    async for made in open_csms(pki):
        yield made


async def _scrape(csms: Csms, role: str = "auditor") -> Series:
    answer = await csms.rest.get("/metrics", headers=csms.headers(role))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def _delta(after: Series, before: Series, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_metrics_count_what_stations_and_officers_did(csms: Csms) -> None:
    assert (await csms.rest.get("/metrics")).status_code == 401
    before = await _scrape(csms)
    password = csms.add_station("CP-M1")
    csms.add_station("CP-M2")

    with pytest.raises(websockets.InvalidStatus):
        await csms.connect_raw("CP-M1", "not-the-password-at-all")
    station = await csms.connect_raw("CP-M1", password)
    await station.boot()
    assert (await station.call("Heartbeat", {}))[0] == 3
    assert (await station.call("NoSuchAction", {}))[0] == 4

    serials = []
    for _ in range(2):
        answer = await csms.rest.post("/api/v1/stations/CP-M1/certificates", json={"csr": make_csr("CP-M1")[0]},
                                      headers=csms.headers("officer"))
        assert answer.status_code == 201, answer.text
        serials.append(answer.json()["serial"])
    revoke_certificate(csms.ctx, SETUP, serials[0], "superseded")
    ending = make_csr("CP-M1")[0]
    ending_serial = (await csms.rest.post("/api/v1/stations/CP-M1/certificates", json={"csr": ending},
                                          headers=csms.headers("officer"))).json()["serial"]

    def twenty_days_left(session) -> None:  # as if the clock had moved on: the row is what the metric reads
        record = session.exec(select(IssuedCertificate).where(IssuedCertificate.serial_hex == ending_serial)).one()
        record.not_after = utcnow() + timedelta(days=20)
        session.add(record)

    run_in_session(csms.ctx, twenty_days_left)
    queued = utcnow() - timedelta(seconds=60)
    run_in_session(csms.ctx, lambda s: s.add(OutboundCall(
        station_id="CP-M2", action="CertificateSigned", payload="{}", status=CallStatus.PENDING,
        purpose="certificate_delivery", next_attempt_at=utcnow() + timedelta(days=1), created_by="test",
        created_at=queued)))

    after = await _scrape(csms)
    assert _delta(after, before, "chargeca_ocpp_messages_total", action="BootNotification") == 1
    assert _delta(after, before, "chargeca_ocpp_messages_total", action="Heartbeat") == 1
    assert _delta(after, before, "chargeca_ocpp_messages_total", action="other") == 1
    assert _delta(after, before, "chargeca_ocpp_message_errors_total", action="other", code="NotImplemented") == 1
    assert _delta(after, before, "chargeca_ocpp_message_errors_total", action="Heartbeat",
                  code="NotImplemented") == 0
    assert _delta(after, before, "chargeca_admission_refusals_total", reason="auth.password") == 1
    assert [after[("chargeca_connections", (("security_profile", p),))] for p in "123"] == [1, 0, 0]
    assert after[("chargeca_certificates_issued_total", (("kind", "station"),))] == 3
    assert after[("chargeca_certificates_revoked_total", (("kind", "station"),))] == 1
    assert after[("chargeca_certificates_expiring_30d", (("kind", "station"),))] == 1  # the others: a year
    depth = {k[1]: v for k, v in after.items() if k[0] == "chargeca_outbox_depth"}
    assert depth == {(("purpose", "certificate_delivery"), ("status", "pending")): 1}
    age = after[("chargeca_outbox_oldest_age_seconds", (("purpose", "certificate_delivery"),))]
    assert 60 <= age < 120


async def test_metrics_show_the_rest_requests_turns(csms: Csms) -> None:
    series = await _scrape(csms)

    # The scrape itself holds one of the [rest] max_active_requests turns.
    assert series[("chargeca_rest_requests_limit", ())] == csms.ctx.policy.rest.max_active_requests == 4
    assert series[("chargeca_rest_requests_working", ())] == 1
    assert series[("chargeca_rest_requests_waiting", ())] == 0


async def test_metrics_show_how_late_the_event_loop_runs(csms: Csms) -> None:
    count = ("chargeca_event_loop_delay_seconds_count", ())
    before = await _scrape(csms)
    await asyncio.sleep(0.6)   # the stack's probe: a timer every 0.25 s
    after = await _scrape(csms)

    assert after[count] - before.get(count, 0.0) >= 2
    assert ("chargeca_event_loop_delay_seconds_bucket", (("le", "0.01"),)) in after


async def test_metrics_show_the_journal_syncs_that_transaction_events_wait_for(csms: Csms) -> None:
    station = await booted_station(csms, "CP-J1")
    await station.call("TransactionEvent", transaction_event("Started", "Authorized", 0, "TX-J1"))
    before = await _scrape(csms)
    for seq_no in (1, 2, 3):   # Updated without an idToken: answered once journaled
        assert await station.call("TransactionEvent", transaction_event("Updated", "MeterValuePeriodic", seq_no,
                                                                         "TX-J1")) == {}
    after = await _scrape(csms)

    syncs = _delta(after, before, "chargeca_journal_sync_seconds_count")
    if csms.ctx.engine.dialect.name == "sqlite":
        # Its commit has no fdatasync (WAL, synchronous=NORMAL), nor has the journal: nothing to wait for.
        assert syncs == 0 and _delta(after, before, "chargeca_journal_sync_answers_total") == 0
        return
    # One call after the other: each answer waited for a sync of its own.
    assert syncs == 3 and _delta(after, before, "chargeca_journal_sync_answers_total") == 3
    assert _delta(after, before, "chargeca_journal_answer_wait_seconds_count") == 3
    assert 0 < _delta(after, before, "chargeca_journal_sync_seconds_sum") <= _delta(
        after, before, "chargeca_journal_answer_wait_seconds_sum")
    assert _delta(after, before, "chargeca_journal_sync_failures_total") == 0


async def test_metrics_show_how_long_the_csms_held_each_station_call(csms: Csms) -> None:
    station = await booted_station(csms, "CP-H1")
    before = await _scrape(csms)
    began = asyncio.get_running_loop().time()
    await station.call("Heartbeat", {})
    await station.call("TransactionEvent", transaction_event("Started", "Authorized", 0, "TX-H1"))
    await station.call("TransactionEvent", transaction_event("Updated", "MeterValuePeriodic", 1, "TX-H1"))
    round_trips = asyncio.get_running_loop().time() - began
    after = await _scrape(csms)

    assert _delta(after, before, "chargeca_ocpp_call_seconds_count", action="Heartbeat") == 1
    assert _delta(after, before, "chargeca_ocpp_call_seconds_count", action="TransactionEvent") == 2
    held = sum(_delta(after, before, "chargeca_ocpp_call_seconds_sum", action=action)
               for action in ("Heartbeat", "TransactionEvent"))
    # From the frame read to the answer handed over: inside the station's round trips.
    assert 0 < held < round_trips
