"""Station certificates over OCPP beyond TC_A_11/14: the station-initiated renewal (A03), what
SignCertificate refuses at once, V2G, the chain-size policy, delivery retries and alerts, a CA
failure after Accepted, and deliveries that survive a restart of the service.

Real stations (the simulator) over real wss with client certificates; the certificate workers
run on a clock the test moves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from datetime import timedelta

import pytest
from certificate_support import (
    DELIVERY,
    RENEWAL,
    Clock,
    answer,
    certificate_csms,
    chain_of,
    openssl_verify,
    requests,
    with_policy,
)
from conftest import TEST_ORG, TEST_PASSPHRASE, Pki
from csr_factory import make_csr, new_key
from ocpp_transport_helpers import issue_client_certificate
from sqlalchemy import update
from sqlmodel import select

from api.core.audit import run_in_session
from api.csms.security.alerts import CHAIN_TOO_LONG, DELIVERY_FAILED, SIGNING_FAILED
from api.csms.security.certificate_batches import finish_accepted
from api.csms.security.certificate_signing import KEY_WAIT
from api.csms.security.renewal import CHARGING_STATION_CERTIFICATE
from api.ocpp.handler import now_iso
from pki.keystore import EncryptedFileKeyStore
from pki.serials import serial_hex
from pki.v2g import ensure_v2g_ca
from simulator.station import DEFAULT_HANDLERS
from storage.certificate_requests import CertificateRequest, RequestStatus
from storage.certificates import CertKind, CertStatus
from storage.db import session_scope
from storage.stations import Station


def _station_row(harness, station_id: str) -> Station:
    return run_in_session(harness.csms.ctx, lambda s: s.get(Station, station_id))


def _set_station(harness, station_id: str, **values) -> None:
    def change(session):
        station = session.get(Station, station_id)
        for name, value in values.items():
            setattr(station, name, value)
        session.add(station)
    run_in_session(harness.csms.ctx, change)


def _new_serial(harness, station_id: str) -> str:
    return harness.csms.gateway.session(station_id).connection.client_certificate_serial


# --- A03: the station asks on its own -------------------------------------------------------------


async def test_a03_station_initiated_renewal_is_signed_delivered_and_used(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("A03-1", tmp_path)
        old = _new_serial(harness, "A03-1")
        assert await station.sign_certificate() == {"status": "Accepted"}
        await harness.until(lambda: requests(station, "CertificateSigned")
                            and harness.rows("A03-1", DELIVERY)[0].status == "answered")
        (signed,) = requests(station, "CertificateSigned")
        assert signed["certificateType"] == CHARGING_STATION_CERTIFICATE
        assert openssl_verify(tmp_path, harness.csms.root_pem, chain_of(signed)).endswith("OK")
        assert requests(station, "TriggerMessage") == [] and harness.rows("A03-1", RENEWAL) == []

        await station.reconnect()
        await harness.csms.connected("A03-1")
        new = _new_serial(harness, "A03-1")
        assert new == serial_hex(chain_of(signed)[0].serial_number) != old
        assert {c.serial_hex: c.status for c in harness.certificates("A03-1")} == {
            old: CertStatus.SUPERSEDED, new: CertStatus.ACTIVE}


# --- refused while the station waits ---------------------------------------------------------------


def _csr(case: str) -> str:
    if case == "not a CSR":
        return "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    if case == "CN is another station":
        return make_csr("SOMEONE-ELSE", TEST_ORG)[0]
    if case == "another organisation":
        return make_csr("REJ-1", "Other CSO")[0]
    if case == "weak RSA key":
        return make_csr("REJ-1", TEST_ORG, new_key("rsa-1024"))[0]
    raise AssertionError(case)


@pytest.mark.parametrize(("case", "rule"), [
    ("not a CSR", "csr.format"),
    ("CN is another station", "csr.subject.cn"),
    ("another organisation", "csr.subject.o"),
    ("weak RSA key", "csr.key.rsa_size"),
])
async def test_a_csr_that_can_never_be_signed_is_rejected_naming_the_rule(sqlite_pki, tmp_path, case, rule):
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("REJ-1", tmp_path)
        before = harness.certificates("REJ-1")
        answer_ = await station.call("SignCertificate", {"csr": _csr(case),
                                                         "certificateType": CHARGING_STATION_CERTIFICATE})
        assert answer_["status"] == "Rejected"
        info = answer_["statusInfo"]
        assert info["reasonCode"] == "InvalidCSR" and len(info["reasonCode"]) <= 20
        assert info["additionalInfo"].startswith(f"{rule}: ")
        await asyncio.sleep(0.2)
        assert harness.certificates("REJ-1") == before and harness.rows("REJ-1", DELIVERY) == []
        assert requests(station, "CertificateSigned") == []
        refused = [e for e in harness.audit("certificate.sign") if e.outcome == "refused"]
        assert len(refused) == 1 and rule in refused[0].detail


async def test_no_station_certificate_over_plain_ws(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        password = harness.csms.add_station("SP1-1", profile=1)
        station = harness.csms.simulator("SP1-1", profile=1, password=password)
        await station.connect()
        assert (await station.boot())["status"] == "Accepted"
        answer_ = await station.sign_certificate()
        assert answer_["status"] == "Rejected"
        assert answer_["statusInfo"]["reasonCode"] == "WrongSecurityProfile"
        assert answer_["statusInfo"]["additionalInfo"].startswith("station.profile: ")


# --- V2G (ISO 15118 SECC certificate) --------------------------------------------------------------


async def _sign_v2g(station) -> dict:
    return await station.call("SignCertificate", {"csr": station.make_csr("ec-p256"), "certificateType": "V2GCertificate"})


async def test_v2g_without_a_v2g_ca_is_rejected_with_the_reason(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("V2G-0", tmp_path)
        answer_ = await _sign_v2g(station)
        assert answer_["status"] == "Rejected"
        assert answer_["statusInfo"]["reasonCode"] == "NoV2GCA"
        assert answer_["statusInfo"]["additionalInfo"].startswith("v2g.not_configured: no V2G (ISO 15118) sub-CA")
        assert harness.rows("V2G-0", DELIVERY) == []


async def test_v2g_is_signed_by_the_v2g_sub_ca_and_delivered_with_its_type(sqlite_pki, tmp_path):
    with session_scope(sqlite_pki.ctx.engine) as session:
        v2g_ca = ensure_v2g_ca(session, sqlite_pki.ctx.keystore, policy=sqlite_pki.ctx.policy, urls=sqlite_pki.ctx.urls)
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("V2G-1", tmp_path)
        in_use = _new_serial(harness, "V2G-1")
        # The SECC certificate is for the ISO 15118 side; it must not replace the client certificate.
        station.handlers["CertificateSigned"] = lambda _station, _payload: {"status": "Accepted"}
        assert await _sign_v2g(station) == {"status": "Accepted"}
        await harness.until(lambda: requests(station, "CertificateSigned"))
        (signed,) = requests(station, "CertificateSigned")
        assert signed["certificateType"] == "V2GCertificate"
        leaf, issuer = chain_of(signed)
        assert issuer == v2g_ca.certificate and leaf.issuer == v2g_ca.certificate.subject
        assert openssl_verify(tmp_path, harness.csms.root_pem, [leaf, issuer], purpose="any").endswith("OK")
        kinds = {c.serial_hex: (c.kind, c.status) for c in harness.certificates("V2G-1")}
        assert kinds[serial_hex(leaf.serial_number)] == (CertKind.V2G, CertStatus.ISSUED)
        assert kinds[in_use] == (CertKind.STATION, CertStatus.ACTIVE)  # the TLS certificate is untouched


# --- chain size ------------------------------------------------------------------------------------


async def test_a_chain_over_the_stations_max_certificate_chain_size_is_never_sent(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("CHAIN-1", tmp_path)
        station.device_model.set("SecurityCtrlr", "MaxCertificateChainSize", 1200)  # the leaf fits, the chain not
        assert (await harness.request_renewal("CHAIN-1")).status_code == 202
        await harness.until(lambda: harness.rows("CHAIN-1", DELIVERY)
                            and harness.rows("CHAIN-1", DELIVERY)[0].status == "failed")
        (delivery,) = harness.rows("CHAIN-1", DELIVERY)
        assert delivery.error.startswith("chain.station_max: chain is ")
        assert len(delivery.payload) > 1200  # the signed chain really is longer than the station takes
        assert requests(station, "CertificateSigned") == []
        assert [p["getVariableData"] for p in requests(station, "GetVariables")] == [[{
            "component": {"name": "SecurityCtrlr"}, "variable": {"name": "MaxCertificateChainSize"}}]]
        assert _station_row(harness, "CHAIN-1").max_chain_size == 1200  # kept: not asked again
        (alert,) = harness.events("CHAIN-1", source="csms")
        assert (alert.type, alert.critical) == (CHAIN_TOO_LONG, True) and "chain.station_max" in alert.tech_info
        assert [e.outcome for e in harness.audit("certificate.alert")] == ["failed"]

        # A later delivery is checked against the kept limit without asking again.
        await station.sign_certificate()
        await harness.until(lambda: len(harness.rows("CHAIN-1", DELIVERY)) == 2
                            and harness.rows("CHAIN-1", DELIVERY)[1].status == "failed")
        assert len(requests(station, "GetVariables")) == 1 and requests(station, "CertificateSigned") == []


@pytest.mark.parametrize(("reported", "kept"), [(4000, 4000), (None, 10000)])
async def test_a_chain_within_the_limit_is_sent_and_the_limit_kept(sqlite_pki, tmp_path, reported, kept):
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("CHAIN-2", tmp_path)
        if reported is not None:
            station.device_model.set("SecurityCtrlr", "MaxCertificateChainSize", reported)
        # None: the station does not implement the variable (UnknownVariable): only the schema's 10000.
        assert await station.sign_certificate() == {"status": "Accepted"}
        await harness.until(lambda: requests(station, "CertificateSigned"))
        assert len(requests(station, "CertificateSigned")[0]["certificateChain"]) <= kept
        assert _station_row(harness, "CHAIN-2").max_chain_size == kept


@pytest.mark.parametrize("reported", [0, 100])
async def test_a_max_chain_size_no_chain_could_fit_is_misreported_and_the_station_decides(sqlite_pki, tmp_path,
                                                                                            reported):
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("CHAIN-0", tmp_path)
        station.device_model.set("SecurityCtrlr", "MaxCertificateChainSize", reported)
        assert await station.sign_certificate() == {"status": "Accepted"}
        await harness.until(lambda: harness.rows("CHAIN-0", DELIVERY)
                            and harness.rows("CHAIN-0", DELIVERY)[0].status == "answered")
        (signed,) = requests(station, "CertificateSigned")
        assert len(signed["certificateChain"]) <= 10000
        assert answer(harness.rows("CHAIN-0", DELIVERY)[0]) == {"status": "Accepted"}
        (warning,) = harness.events("CHAIN-0", source="csms")
        assert (warning.type, warning.critical) == ("CertificateChainSizeMisreported", False)
        assert f"MaxCertificateChainSize of {reported}" in warning.tech_info
        assert harness.audit("certificate.alert") == []


async def test_a_firmware_update_makes_the_kept_limit_be_asked_again(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("CHAIN-FW", tmp_path)
        station.device_model.set("SecurityCtrlr", "MaxCertificateChainSize", 1200)
        assert await station.sign_certificate() == {"status": "Accepted"}
        await harness.until(lambda: harness.rows("CHAIN-FW", DELIVERY)
                            and harness.rows("CHAIN-FW", DELIVERY)[0].status == "failed")
        # A reboot on the same firmware keeps what the station said.
        await station.reconnect()
        assert (await station.boot())["status"] == "Accepted"
        assert _station_row(harness, "CHAIN-FW").max_chain_size == 1200

        # The new firmware takes longer chains; its first boot forgets the old answer.
        station.device_model.set("SecurityCtrlr", "MaxCertificateChainSize", 6000)
        station.firmware_version = "2.0.0"
        await station.reconnect()
        assert (await station.boot())["status"] == "Accepted"
        assert _station_row(harness, "CHAIN-FW").max_chain_size is None
        assert await station.sign_certificate() == {"status": "Accepted"}
        await harness.until(lambda: requests(station, "CertificateSigned"))
        assert len(requests(station, "GetVariables")) == 2
        assert _station_row(harness, "CHAIN-FW").max_chain_size == 6000


async def test_the_policy_limit_applies_below_the_stations(sqlite_pki, tmp_path):
    pki = with_policy(sqlite_pki, chain={"max_chars": 1000})
    async with certificate_csms(pki) as harness:
        station = await harness.sp3_station("CHAIN-3", tmp_path)
        await station.sign_certificate()
        await harness.until(lambda: harness.rows("CHAIN-3", DELIVERY)
                            and harness.rows("CHAIN-3", DELIVERY)[0].status == "failed")
        assert harness.rows("CHAIN-3", DELIVERY)[0].error.startswith("chain.size: ")
        assert requests(station, "CertificateSigned") == []


# --- retries, alerts -------------------------------------------------------------------------------


async def test_an_unanswered_delivery_is_retried_with_back_off_then_alerts(sqlite_pki, tmp_path):
    clock = Clock()
    pki = with_policy(sqlite_pki, delivery={"max_attempts": 2, "backoff_seconds": 10})
    async with certificate_csms(pki, clock=clock) as harness:
        station = await harness.sp3_station("RETRY-1", tmp_path)

        def broken(_station, _payload):
            raise RuntimeError("flash full")  # the station answers CALLERROR InternalError
        station.handlers["CertificateSigned"] = broken
        await station.sign_certificate()
        await harness.until(lambda: harness.rows("RETRY-1", DELIVERY)
                            and harness.rows("RETRY-1", DELIVERY)[0].attempts == 1)
        (row,) = harness.rows("RETRY-1", DELIVERY)
        assert (row.status, row.next_attempt_at) == ("pending", clock.now + timedelta(seconds=10))
        assert row.error.startswith("InternalError: ")
        clock.advance(seconds=9)
        await harness.settled()
        assert len(requests(station, "CertificateSigned")) == 1
        clock.advance(seconds=1)
        await harness.until(lambda: harness.rows("RETRY-1", DELIVERY)[0].status == "failed")
        assert len(requests(station, "CertificateSigned")) == 2
        (alert,) = harness.events("RETRY-1", source="csms")
        assert alert.type == DELIVERY_FAILED and "delivery.max_attempts" in alert.tech_info


async def test_a_discarded_renewed_certificate_starts_a_new_renewal(sqlite_pki, tmp_path):
    clock = Clock()
    pki = with_policy(sqlite_pki, delivery={"backoff_seconds": 30})
    async with certificate_csms(pki, clock=clock) as harness:
        station = await harness.sp3_station("DISC-1", tmp_path)
        await station.sign_certificate()
        await harness.until(lambda: harness.rows("DISC-1", DELIVERY)
                            and harness.rows("DISC-1", DELIVERY)[0].status == "answered")
        # A02.FR.29: it accepted the certificate, could not connect with it, and dropped it.
        assert await station.call("SecurityEventNotification", {
            "type": "DiscardedRenewedClientCertificate", "timestamp": now_iso()}) == {}
        (retry,) = harness.rows("DISC-1", RENEWAL)
        waits = retry.next_attempt_at - retry.created_at  # the handler goes by the wall clock
        assert retry.reference == "2" and timedelta(seconds=29) < waits <= timedelta(seconds=30)
        await harness.settled()
        assert requests(station, "TriggerMessage") == []
        clock.now = retry.next_attempt_at
        await harness.until(lambda: len(requests(station, "CertificateSigned")) == 2)
        assert requests(station, "TriggerMessage") == [{"requestedMessage": "SignChargingStationCertificate"}]


def _requests(harness, station_id: str) -> list[CertificateRequest]:
    return run_in_session(harness.csms.ctx, lambda s: list(s.exec(
        select(CertificateRequest).where(CertificateRequest.station_id == station_id).order_by(CertificateRequest.id))))


async def test_a_ca_key_away_after_accepted_is_waited_for_then_signed_and_alerted_only_when_too_late(
        sqlite_pki, tmp_path):
    # The station CA's key becomes unavailable (an HSM serviced, a key file moved): a fresh key
    # store that has not cached it, and the file moved away.
    label = sqlite_pki.hierarchy.station_ca.record.key_label
    keys_dir = sqlite_pki.ctx.settings.keys_dir
    keystore = EncryptedFileKeyStore(keys_dir, TEST_PASSPHRASE.encode())
    pki = Pki(dataclasses.replace(sqlite_pki.ctx, keystore=keystore), sqlite_pki.hierarchy)
    async with certificate_csms(pki) as harness:
        ctx = harness.csms.ctx
        harness.csms.add_station("CAFAIL-1", profile=3)
        chain, key, _ = issue_client_certificate(sqlite_pki, "CAFAIL-1", tmp_path)  # before the key goes
        os.rename(keys_dir / f"{label}.key.pem", tmp_path / "away.key.pem")
        station = harness.csms.simulator("CAFAIL-1", profile=3, client_cert=chain, client_key=key)
        await station.connect()
        assert (await station.boot())["status"] == "Accepted"
        assert await station.sign_certificate() == {"status": "Accepted"}

        # Tried, and kept: no alert, nothing delivered, the request still accepted.
        assert await finish_accepted(ctx) == []
        (waiting,) = _requests(harness, "CAFAIL-1")
        assert waiting.status == RequestStatus.ACCEPTED
        assert harness.events("CAFAIL-1", source="csms") == [] and harness.rows("CAFAIL-1", DELIVERY) == []

        # The key is back: the next pass signs it, and the station gets its chain.
        os.rename(tmp_path / "away.key.pem", keys_dir / f"{label}.key.pem")
        assert len(await finish_accepted(ctx)) == 1
        await harness.until(lambda: requests(station, "CertificateSigned"))
        assert _requests(harness, "CAFAIL-1")[0].status == RequestStatus.SIGNED

        # Away again, for longer than a request waits: that one fails, with its alert.
        os.rename(keys_dir / f"{label}.key.pem", tmp_path / "away.key.pem")
        keystore._cache.clear()   # as a restarted process would have it
        assert await station.sign_certificate() == {"status": "Accepted"}
        late = _requests(harness, "CAFAIL-1")[-1]
        run_in_session(ctx, lambda s: s.exec(update(CertificateRequest).where(CertificateRequest.id == late.id)
                                             .values(accepted_at=late.accepted_at - KEY_WAIT)))
        await finish_accepted(ctx)
        assert _requests(harness, "CAFAIL-1")[-1].status == RequestStatus.FAILED
        (alert,) = harness.events("CAFAIL-1", source="csms")
        assert (alert.type, alert.critical) == (SIGNING_FAILED, True)
        assert "ca.error: SignCertificate was accepted but not signed: KeyStoreError" in alert.tech_info
        (entry,) = harness.audit("certificate.alert")
        assert entry.outcome == "failed" and SIGNING_FAILED in entry.detail


# --- surviving a restart ------------------------------------------------------------------------


async def _back_with_the_service(harness, station) -> None:
    """The station finds the restarted service (its listeners have new ports) and connects."""
    station.url = f"{harness.csms.wss_url}/{station.identity}"
    station.handlers["CertificateSigned"] = DEFAULT_HANDLERS["CertificateSigned"]
    harness.csms.stations.append(station)
    await station.connect()
    await harness.csms.connected(station.identity)


async def _uses_the_delivered_certificate(harness, station, old: str) -> None:
    await harness.until(lambda: harness.rows(station.identity, DELIVERY)[0].status == "answered")
    assert answer(harness.rows(station.identity, DELIVERY)[0]) == {"status": "Accepted"}
    delivered = chain_of(requests(station, "CertificateSigned")[-1])
    await station.reconnect()
    await harness.csms.connected(station.identity)
    assert _new_serial(harness, station.identity) == serial_hex(delivered[0].serial_number) != old


async def test_a_delivery_cut_off_by_the_station_waits_in_the_database_across_a_restart(sqlite_pki, tmp_path):
    clock = Clock()
    async with certificate_csms(sqlite_pki, clock=clock) as harness:
        station = await harness.sp3_station("RESTART-1", tmp_path)
        old = _new_serial(harness, "RESTART-1")

        async def reboot_now(station_, _payload):
            await station_.websocket.close()  # goes away instead of answering (about to reboot)
            return {"status": "Accepted"}
        station.handlers["CertificateSigned"] = reboot_now
        await station.sign_certificate()
        await harness.until(lambda: harness.rows("RESTART-1", DELIVERY)
                            and harness.rows("RESTART-1", DELIVERY)[0].attempts == 1)
        assert harness.rows("RESTART-1", DELIVERY)[0].status == "pending"
    # The service stops and starts again; the chain is only in the database now.
    async with certificate_csms(sqlite_pki, clock=clock) as harness:
        await _back_with_the_service(harness, station)
        await harness.settled()
        assert harness.rows("RESTART-1", DELIVERY)[0].status == "pending"  # its back-off still runs
        clock.advance(seconds=sqlite_pki.ctx.policy.delivery.backoff_seconds)
        await _uses_the_delivered_certificate(harness, station, old)


async def test_a_delivery_in_flight_when_the_service_dies_is_sent_again_after_the_restart(sqlite_pki, tmp_path):
    clock = Clock()
    async with certificate_csms(sqlite_pki, clock=clock) as harness:
        station = await harness.sp3_station("RESTART-2", tmp_path)
        old = _new_serial(harness, "RESTART-2")
        never = asyncio.Event()

        async def silent(_station, _payload):
            await never.wait()  # the service goes down before this station answers
        station.handlers["CertificateSigned"] = silent
        await station.sign_certificate()
        await harness.until(lambda: requests(station, "CertificateSigned"))
        assert harness.rows("RESTART-2", DELIVERY)[0].status == "sent"
        await harness.workers.aclose()  # the service dies here: nothing records how the call ended
    # Killed mid-call: the row still says "sent". Once no sender can still be waiting on it,
    # the restarted service sends it again.
    async with certificate_csms(sqlite_pki, clock=clock) as harness:
        assert harness.rows("RESTART-2", DELIVERY)[0].status == "sent"
        clock.advance(hours=1)
        await _back_with_the_service(harness, station)
        await _uses_the_delivered_certificate(harness, station, old)
        assert len(requests(station, "CertificateSigned")) == 2
