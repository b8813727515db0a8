"""TC_A_11 — Renew the station certificate on CSMS request (Advanced Security, A02).

Reusable state RenewChargingStationCertificate: the operator triggers (REST); TriggerMessage
requestedMessage = SignChargingStationCertificate; SignCertificateResponse Accepted;
CertificateSigned carries a certificate generated from the received CSR that chains to the
configured CSMS root, certificateType ChargingStationCertificate; the station answers Accepted,
reconnects on profile 3 with the new certificate and is accepted. Then the new certificate is
"active" and the old one "superseded".
"""

from __future__ import annotations

from certificate_support import DELIVERY, answer, certificate_csms, chain_of, openssl_verify, requests, spki
from cryptography import x509

from pki.serials import serial_hex
from storage.certificates import CertStatus


async def test_tc_a_11_renew_station_certificate_on_csms_request(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        csms = harness.csms
        station = await harness.sp3_station("TC-A-11", tmp_path)
        old_serial = csms.gateway.session("TC-A-11").connection.client_certificate_serial
        sign_answers = []
        sign_certificate = station.sign_certificate

        async def recorded_sign_certificate():
            sign_answers.append(await sign_certificate())
        station.sign_certificate = recorded_sign_certificate  # what the triggered SignCertificate got

        answer_ = await harness.request_renewal("TC-A-11")
        assert answer_.status_code == 202, answer_.text
        await harness.until(lambda: requests(station, "CertificateSigned"))

        assert requests(station, "TriggerMessage") == [{"requestedMessage": "SignChargingStationCertificate"}]
        assert sign_answers == [{"status": "Accepted"}]  # A02.FR.11
        (signed,) = requests(station, "CertificateSigned")
        assert signed["certificateType"] == "ChargingStationCertificate"  # A02.FR.14
        chain = chain_of(signed)
        root = x509.load_pem_x509_certificate(csms.root_pem.read_bytes())
        # Leaf first, then the sub-CA; never the root (the station holds it as its trust anchor).
        assert len(chain) == 2 and chain[1] == sqlite_pki.hierarchy.station_ca.certificate
        assert root not in chain
        # Generated from the CSR: the station kept the key of its CSR, and the leaf certifies it.
        assert spki(chain[0]) == spki(x509.load_pem_x509_certificates(station.client_cert.read_bytes())[0])
        assert openssl_verify(tmp_path, csms.root_pem, chain).endswith("OK")
        await harness.until(lambda: harness.rows("TC-A-11", DELIVERY)[0].status == "answered")
        assert answer(harness.rows("TC-A-11", DELIVERY)[0]) == {"status": "Accepted"}

        # A02.FR.08: the station switches by reconnecting; the CSMS accepts the new certificate.
        await station.reconnect()
        await csms.connected("TC-A-11")
        new_serial = serial_hex(chain[0].serial_number)
        assert csms.gateway.session("TC-A-11").connection.client_certificate_serial == new_serial != old_serial
        assert (await station.heartbeat())["currentTime"]

        status = {c.serial_hex: c.status for c in harness.certificates("TC-A-11")}
        assert status == {old_serial: CertStatus.SUPERSEDED, new_serial: CertStatus.ACTIVE}
        new = next(c for c in harness.certificates("TC-A-11") if c.serial_hex == new_serial)
        assert new.activated_at is not None
