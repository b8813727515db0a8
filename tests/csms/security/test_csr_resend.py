"""A station sends the same CSR again (it rebooted before CertificateSigned came): while that
chain has not reached it, it is Accepted and the same chain delivered — one certificate for the
key, never a second; once the station accepted it, or for another station's key, the CSR is a
reused key (csr.key_reuse). Real stations (the simulator) on profile 3 over real wss; the
certificate workers run on a clock the test moves."""

from __future__ import annotations

from certificate_support import DELIVERY, answer, certificate_csms, chain_of, requests, with_policy
from conftest import TEST_ORG
from csr_factory import make_csr, new_key

from api.csms.security.alerts import DELIVERY_FAILED
from api.csms.security.renewal import CHARGING_STATION_CERTIFICATE
from pki.serials import serial_hex
from policies.csr import key_fingerprint
from simulator.station import DEFAULT_HANDLERS

ACCEPTED = {"status": "Accepted"}


async def _sign(station, csr: str) -> dict:
    return await station.call("SignCertificate", {"csr": csr, "certificateType": CHARGING_STATION_CERTIFICATE})


def _reboots_on_delivery(station) -> None:
    async def reboot_now(station_, _payload):
        await station_.websocket.close()  # gone before it could answer
        return ACCEPTED
    station.handlers["CertificateSigned"] = reboot_now


async def _back_after_reboot(harness, station) -> None:
    station.handlers["CertificateSigned"] = DEFAULT_HANDLERS["CertificateSigned"]
    await station.reconnect()
    assert (await station.boot())["status"] == "Accepted"
    await harness.csms.connected(station.identity)


def _serial_in_use(harness, station_id: str) -> str:
    return harness.csms.gateway.session(station_id).connection.client_certificate_serial


def _serials_for_key(harness, station_id: str, certificate) -> list[str]:
    fingerprint = key_fingerprint(certificate.public_key())
    return [c.serial_hex for c in harness.certificates(station_id) if c.public_key_sha256 == fingerprint]


def _rejected_as_reused_key(answer_: dict) -> bool:
    return answer_["status"] == "Rejected" and answer_["statusInfo"]["additionalInfo"].startswith("csr.key_reuse: ")


async def test_the_same_csr_while_its_chain_is_undelivered_gets_that_chain(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("RESEND-1", tmp_path)
        old = _serial_in_use(harness, "RESEND-1")
        _reboots_on_delivery(station)
        assert await station.sign_certificate() == ACCEPTED
        await harness.until(lambda: harness.rows("RESEND-1", DELIVERY)
                            and harness.rows("RESEND-1", DELIVERY)[0].attempts == 1)
        await _back_after_reboot(harness, station)
        await harness.settled()
        assert len(requests(station, "CertificateSigned")) == 1  # its retry waits out the back-off

        assert await station.resend_sign_certificate() == ACCEPTED

        await harness.until(lambda: harness.rows("RESEND-1", DELIVERY)[0].status == "answered")
        first, again = requests(station, "CertificateSigned")
        assert again == first  # the same chain, not a new certificate
        leaf = chain_of(again)[0]
        assert _serials_for_key(harness, "RESEND-1", leaf) == [serial_hex(leaf.serial_number)]
        (delivery,) = harness.rows("RESEND-1", DELIVERY)
        assert answer(delivery) == ACCEPTED
        (entry,) = harness.audit("certificate.redeliver")
        assert entry.outcome == "success" and serial_hex(leaf.serial_number) in entry.detail
        assert [e.outcome for e in harness.audit("certificate.sign")] == ["success"]
        # The station comes back with it.
        await station.reconnect()
        await harness.csms.connected("RESEND-1")
        assert _serial_in_use(harness, "RESEND-1") == serial_hex(leaf.serial_number) != old


async def test_the_same_csr_after_its_chain_was_accepted_is_a_reused_key(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("RESEND-2", tmp_path)
        csr = station.make_csr()
        assert await _sign(station, csr) == ACCEPTED
        await harness.until(lambda: harness.rows("RESEND-2", DELIVERY)
                            and harness.rows("RESEND-2", DELIVERY)[0].status == "answered")

        assert _rejected_as_reused_key(await _sign(station, csr))

        await station.reconnect()  # now in use (active)
        await harness.csms.connected("RESEND-2")
        assert _rejected_as_reused_key(await _sign(station, csr))
        assert len(requests(station, "CertificateSigned")) == 1
        assert len(harness.certificates("RESEND-2")) == 2  # the one it came with, the one it got
        assert [e.outcome for e in harness.audit("certificate.sign")] == ["success", "refused", "refused"]


async def test_the_same_csr_after_the_station_rejected_its_chain_is_a_reused_key(sqlite_pki, tmp_path):
    # It refused that very chain: sending it again could only be refused again.
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("RESEND-3", tmp_path)
        station.handlers["CertificateSigned"] = lambda _station, _payload: {"status": "Rejected"}
        csr = station.make_csr()
        assert await _sign(station, csr) == ACCEPTED
        await harness.until(lambda: harness.rows("RESEND-3", DELIVERY)
                            and harness.rows("RESEND-3", DELIVERY)[0].status == "answered")

        assert _rejected_as_reused_key(await _sign(station, csr))
        assert len(requests(station, "CertificateSigned")) == 1


async def test_a_key_waiting_for_another_stations_chain_is_a_reused_key(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        first = await harness.sp3_station("RESEND-A", tmp_path)
        second = await harness.sp3_station("RESEND-B", tmp_path)
        key = new_key()
        _reboots_on_delivery(first)
        assert await _sign(first, make_csr("RESEND-A", TEST_ORG, key)[0]) == ACCEPTED
        await harness.until(lambda: harness.rows("RESEND-A", DELIVERY)
                            and harness.rows("RESEND-A", DELIVERY)[0].attempts == 1)

        assert _rejected_as_reused_key(await _sign(second, make_csr("RESEND-B", TEST_ORG, key)[0]))
        assert len(harness.certificates("RESEND-B")) == 1 and harness.rows("RESEND-B", DELIVERY) == []


async def test_a_chain_given_up_on_goes_again_in_a_delivery_of_its_own(sqlite_pki, tmp_path):
    pki = with_policy(sqlite_pki, delivery={"max_attempts": 1})
    async with certificate_csms(pki) as harness:
        station = await harness.sp3_station("RESEND-4", tmp_path)

        def broken(_station, _payload):
            raise RuntimeError("flash busy")  # CALLERROR: an attempt without an answer
        station.handlers["CertificateSigned"] = broken
        assert await station.sign_certificate() == ACCEPTED
        await harness.until(lambda: harness.rows("RESEND-4", DELIVERY)
                            and harness.rows("RESEND-4", DELIVERY)[0].status == "failed")
        (alert,) = harness.events("RESEND-4", source="csms")
        assert alert.type == DELIVERY_FAILED
        station.handlers["CertificateSigned"] = DEFAULT_HANDLERS["CertificateSigned"]

        assert await station.resend_sign_certificate() == ACCEPTED

        await harness.until(lambda: len(harness.rows("RESEND-4", DELIVERY)) == 2
                            and harness.rows("RESEND-4", DELIVERY)[1].status == "answered")
        given_up, again = harness.rows("RESEND-4", DELIVERY)
        assert given_up.status == "failed" and again.payload == given_up.payload
        assert answer(again) == ACCEPTED
        first, delivered = requests(station, "CertificateSigned")
        assert delivered == first
        leaf = chain_of(delivered)[0]
        assert _serials_for_key(harness, "RESEND-4", leaf) == [serial_hex(leaf.serial_number)]
