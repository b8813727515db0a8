"""`chargeca serve` killed with SIGKILL at the moments that used to lose work, each more than once.

A real server process (the `chargeca serve` command, on SQLite or PostgreSQL) and a real station
(the simulator, profile 2 over wss). The test kills the process the instant the station sees:
- SignCertificate answered Accepted: after the restart the station still gets its certificate,
  and the audit log has the issuance (nothing was signed before the kill);
- CertificateSigned arrive, before it answers: after a restart on the same node the delivery is
  sent again at once; with another node taking over (the dead node's lease still running), the
  station resending its CSR makes the delivery go out at once;
- an operator's job (a call stored and sent for polling) and a CertificateSigned arrive, before
  either answers: after the restart each is sent again and completes exactly once (one row, one
  answer recorded, one audit entry; nothing more reaches the station after it answered);
- TransactionEvents Updated answered once journaled, before they were stored
  (storage/write_behind.py): after the restart each is stored exactly once, and a second
  restart stores none again.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from authorization_support import transaction_event
from cluster_support import Node
from conftest import TEST_FQDN, TEST_ORG, TEST_PASSPHRASE, make_pki
from sqlmodel import select

from api.core.audit import Actor, run_in_session
from api.operations.stations import add_station
from api.operations.tokens import create_token
from simulator.station import DEFAULT_HANDLERS, SimulatedStation, TlsOptions
from storage.audit import AuditEntry
from storage.certificates import IssuedCertificate
from storage.meter_values import MeterReading
from storage.outbox import OutboundCall
from storage.transactions import Transaction, TransactionEvent

# Each kill a moment of its own: the first CSR of a station, then one beside a certificate it has
# (what every later kill repeats: killing at the same moment again finds no new fault, and each
# restart costs seconds).
ITERATIONS = 2
# Kills of a delivery on the wire, as many as the server may try a delivery ([delivery]
# max_attempts, set this low in the server's policy.toml): were a kill counted as an attempt, the
# send after the last kill would never happen.
DELIVERY_ATTEMPTS = 2
DELIVERY = "certificate_delivery"
ON_SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
# Each test restarts `chargeca serve` up to three times: seconds each, far more on a loaded machine.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
async def server(tmp_path, db_url, monkeypatch) -> AsyncIterator[tuple[Node, object]]:
    pki = make_pki(tmp_path, db_url, monkeypatch)  # the PKI the server finds in tmp_path/data
    running = Node("node-a", tmp_path, db_url, None, TEST_PASSPHRASE)
    try:
        yield running, pki
    finally:
        await running.stop()
        pki.ctx.engine.dispose()


def _station(pki, tmp_path: Path, station_id: str) -> SimulatedStation:
    password = add_station(pki.ctx, Actor("cli:test"), station_id, security_profile=2).password
    os.makedirs(tmp_path / "station", exist_ok=True)
    root = tmp_path / "root.pem"
    root.write_text(pki.hierarchy.root.record.certificate_pem)
    return SimulatedStation(station_id, "wss://placeholder/ocpp", profile=2, password=password, organization=TEST_ORG,
                            tls=TlsOptions(ca_file=root, server_hostname=TEST_FQDN), call_timeout=10,
                            workdir=tmp_path / "station")


async def _connect(station: SimulatedStation, server: Node) -> None:
    """The station finds the (re)started server at its new port, connects and boots."""
    await station.close()  # after a kill: ends what the old connection left running
    station.url = server.wss_url(station.identity)
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"


def _signed(station: SimulatedStation) -> list[str]:
    return [payload["certificateChain"] for action, payload in station.received if action == "CertificateSigned"]


def _query(pki, query) -> list:
    return run_in_session(pki.ctx, lambda s: list(s.exec(query)))


async def _until(condition, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_an_accepted_csr_survives_a_kill_right_after_the_answer(server, tmp_path):
    running, pki = server
    station = _station(pki, tmp_path, "KILL-10")
    await running.start()
    await _connect(station, running)
    for iteration in range(1, ITERATIONS + 1):
        assert await station.sign_certificate() == {"status": "Accepted"}
        await running.kill()  # the instant the station has its answer
        await running.start()
        await _connect(station, running)
        await _until(lambda: len(_signed(station)) == iteration)
        deliveries = _query(pki, select(OutboundCall).where(OutboundCall.purpose == DELIVERY)
                            .order_by(OutboundCall.id))
        await _until(lambda: _query(pki, select(OutboundCall.status).where(OutboundCall.id == deliveries[-1].id))
                     == ["answered"])
        issued = _query(pki, select(IssuedCertificate).where(IssuedCertificate.station_id == "KILL-10")
                        .order_by(IssuedCertificate.id))
        assert len(issued) == iteration  # one certificate per accepted CSR, none twice
        signed = _query(pki, select(AuditEntry).where(AuditEntry.action == "certificate.sign",
                                                      AuditEntry.outcome == "success").order_by(AuditEntry.seq))
        assert [entry.target for entry in signed] == ["KILL-10"] * iteration
        assert issued[-1].serial_hex in signed[-1].detail


async def _delivered_once(pki, station: SimulatedStation) -> None:
    """One delivery, answered by the station; one certificate signed for it."""
    await _until(lambda: _query(pki, select(OutboundCall.status).where(OutboundCall.purpose == DELIVERY))
                 == ["answered"])
    issued = _query(pki, select(IssuedCertificate).where(IssuedCertificate.station_id == station.identity))
    assert len(issued) == 1


async def _silent(station: SimulatedStation, _payload: dict) -> dict:
    await asyncio.Event().wait()  # never answers: the server dies first
    return {}


@ON_SQLITE
async def test_a_delivery_on_the_wire_when_the_server_dies_is_sent_again_at_once_after_each_restart(server, tmp_path):
    running, pki = server
    (tmp_path / "data" / "policy.toml").write_text(f"[delivery]\nmax_attempts = {DELIVERY_ATTEMPTS}\n")
    station = _station(pki, tmp_path, "KILL-11")
    station.handlers["CertificateSigned"] = _silent
    await running.start()
    await _connect(station, running)
    assert await station.sign_certificate() == {"status": "Accepted"}
    for iteration in range(1, DELIVERY_ATTEMPTS + 1):
        await _until(lambda: len(_signed(station)) == iteration)
        await running.kill()  # CertificateSigned is on the wire, its answer not sent
        if iteration == DELIVERY_ATTEMPTS:
            station.handlers["CertificateSigned"] = DEFAULT_HANDLERS["CertificateSigned"]
        await running.start()
        await _connect(station, running)  # the same node again: what it left "sent" is due at once
    await _until(lambda: len(_signed(station)) == DELIVERY_ATTEMPTS + 1)
    await _delivered_once(pki, station)
    assert len(set(_signed(station))) == 1  # the same chain every time


@ON_SQLITE
async def test_a_resent_csr_makes_a_delivery_another_node_left_on_the_wire_due_at_once(server, tmp_path):
    running, pki = server
    station = _station(pki, tmp_path, "KILL-11B")
    station.handlers["CertificateSigned"] = _silent
    await running.start()
    await _connect(station, running)
    assert await station.sign_certificate() == {"status": "Accepted"}
    await _until(lambda: len(_signed(station)) == 1)
    await running.kill()
    station.handlers["CertificateSigned"] = DEFAULT_HANDLERS["CertificateSigned"]
    await running.start(node="node-b")  # node-a's lease on the row has not expired
    await _connect(station, running)
    await asyncio.sleep(1)
    assert len(_signed(station)) == 1
    # The station reboots and asks again with the same CSR: Accepted, and the chain goes at once.
    assert await station.resend_sign_certificate() == {"status": "Accepted"}
    await _until(lambda: len(_signed(station)) == 2, timeout=10)
    await _delivered_once(pki, station)


def _received(station: SimulatedStation, action: str) -> int:
    return sum(1 for received, _ in station.received if received == action)


@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_an_operator_job_and_a_delivery_on_the_wire_when_the_server_dies_each_complete_once(server, tmp_path):
    running, pki = server
    jobs_station, certificate_station = _station(pki, tmp_path, "KILL-JOB"), _station(pki, tmp_path, "KILL-CERT")
    jobs_station.handlers["TriggerMessage"] = _silent
    certificate_station.handlers["CertificateSigned"] = _silent
    token = create_token(pki.ctx, Actor("cli:test"), "operator", "operator").token
    headers = {"Authorization": f"Bearer {token}"}
    await running.start()
    await _connect(jobs_station, running)
    await _connect(certificate_station, running)
    async with httpx.AsyncClient(base_url=running.rest_url, headers=headers) as rest:
        answer = await rest.post("/api/v1/stations/KILL-JOB/calls", json={
            "action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}, "mode": "async"})
        assert answer.status_code == 202, answer.text
    job_path = answer.json()["url"]
    assert await certificate_station.sign_certificate() == {"status": "Accepted"}
    await _until(lambda: _received(jobs_station, "TriggerMessage") == 1 and len(_signed(certificate_station)) == 1)

    await running.kill()  # both calls on the wire, neither answer recorded
    jobs_station.handlers["TriggerMessage"] = DEFAULT_HANDLERS["TriggerMessage"]
    certificate_station.handlers["CertificateSigned"] = DEFAULT_HANDLERS["CertificateSigned"]
    await running.start()
    await _connect(jobs_station, running)
    await _connect(certificate_station, running)

    async with httpx.AsyncClient(base_url=running.rest_url, headers=headers) as rest:
        async with asyncio.timeout(30):
            while (job := (await rest.get(job_path)).json())["status"] != "answered":
                assert job["status"] in ("pending", "sent"), job
                await asyncio.sleep(0.1)
    assert job["response"] == {"status": "Accepted"}
    await _delivered_once(pki, certificate_station)
    await asyncio.sleep(6)  # longer than the outbox's scan: nothing answered goes out again
    # Each sent once before the kill (unanswered) and once after it, acknowledged; never again.
    assert (_received(jobs_station, "TriggerMessage"), len(_signed(certificate_station))) == (2, 2)
    assert len(set(_signed(certificate_station))) == 1
    rows = _query(pki, select(OutboundCall.purpose, OutboundCall.status).order_by(OutboundCall.id))
    assert rows == [("operator", "answered"), (DELIVERY, "answered")]
    results = _query(pki, select(AuditEntry).where(AuditEntry.action == "station.call.result"))
    assert [(entry.outcome, json.loads(entry.detail)["status"]) for entry in results] == [("success", "answered")]
    deliveries = _query(pki, select(AuditEntry).where(AuditEntry.action == "certificate.deliver"))
    assert [(entry.target, json.loads(entry.detail)["answer"]) for entry in deliveries] == [("KILL-CERT", "Accepted")]


def _meter_value(wh: float) -> list[dict]:
    return [{"timestamp": "2025-01-01T00:00:00Z",
             "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register"}]}]


@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_transaction_events_answered_before_they_were_stored_are_stored_once_after_a_kill(tmp_path, db_url,
                                                                                              monkeypatch):
    pki = make_pki(tmp_path, db_url, monkeypatch)
    # A second's wait before storing: the kill comes long before it.
    running = Node("node-a", tmp_path, db_url, None, TEST_PASSPHRASE,
                   extra_env={"CHARGECA_OCPP_WRITE_BEHIND_MS": "1000"})
    station = _station(pki, tmp_path, "KILL-TX")
    try:
        await running.start()
        await _connect(station, running)
        started = transaction_event("Started", "Authorized", 0, "TX-K")
        assert await station.call("TransactionEvent", started) == {}   # stored before its answer
        for seq_no in range(1, 6):
            payload = transaction_event("Updated", "MeterValuePeriodic", seq_no, "TX-K")
            payload["meterValue"] = _meter_value(1000.0 + seq_no)
            assert await station.call("TransactionEvent", payload) == {}
        await running.kill()   # answered, journaled, not stored
        (row,) = _query(pki, select(Transaction).where(Transaction.transaction_id == "TX-K"))
        assert row.events == 1
        for restart in range(2):   # the second finds nothing left to store
            await running.start()
            await _until(lambda: _query(pki, select(Transaction.events).where(Transaction.transaction_id == "TX-K"))
                         == [6])
            await running.stop()
            events = _query(pki, select(TransactionEvent.seq_no).where(TransactionEvent.transaction_id == "TX-K")
                            .order_by(TransactionEvent.seq_no))
            assert events == [0, 1, 2, 3, 4, 5], f"after restart {restart + 1}"
            (row,) = _query(pki, select(Transaction).where(Transaction.transaction_id == "TX-K"))
            assert (row.seq_duplicates, row.seq_missing, row.meter_last_wh) == (0, 0, 1005.0)
            assert len(_query(pki, select(MeterReading).where(MeterReading.transaction_id == "TX-K"))) == 5
    finally:
        await station.close()
        await running.stop()
        pki.ctx.engine.dispose()
