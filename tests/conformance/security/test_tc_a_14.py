"""TC_A_14 — the station rejects the certificate it was sent (Advanced Security, A02).

TriggerMessage SignChargingStationCertificate; SignCertificateResponse must still be Accepted;
the CSMS sends CertificateSigned; the station answers Rejected and reports
SecurityEventNotification InvalidChargingStationCertificate (A02.FR.07), which the CSMS
acknowledges. Beyond the case: the CSMS records the refusal and asks again with back-off
([delivery] backoff_seconds, doubling) up to [delivery] max_attempts rounds, then alerts.
The back-off is checked on the workers' clock, not by sleeping.
"""

from __future__ import annotations

from datetime import timedelta

from certificate_support import RENEWAL, Clock, certificate_csms, requests, with_policy

from api.csms.security.alerts import RENEWAL_FAILED
from api.ocpp.handler import now_iso
from storage.certificates import CertStatus

STATION = "TC-A-14"


def rejecting(acknowledgements: list):
    """A CertificateSigned handler that refuses the chain and then reports why (A02.FR.07)."""
    def certificate_signed(station, _payload):
        async def report():
            acknowledgements.append(await station.call("SecurityEventNotification", {
                "type": "InvalidChargingStationCertificate", "timestamp": now_iso(),
                "techInfo": "certificate refused by the test"}))
        station.after_reply(report)
        return {"status": "Rejected"}
    return certificate_signed


async def test_tc_a_14_station_rejects_the_certificate_and_the_csms_retries_then_alerts(sqlite_pki, tmp_path):
    clock = Clock()
    pki = with_policy(sqlite_pki, delivery={"max_attempts": 3, "backoff_seconds": 60})
    async with certificate_csms(pki, clock=clock) as harness:
        station = await harness.sp3_station(STATION, tmp_path)
        in_use = harness.csms.gateway.session(STATION).connection.client_certificate_serial
        acknowledgements: list = []
        station.handlers["CertificateSigned"] = rejecting(acknowledgements)
        sign_answers = []
        sign_certificate = station.sign_certificate

        async def recorded_sign_certificate():
            sign_answers.append(await sign_certificate())
        station.sign_certificate = recorded_sign_certificate

        assert (await harness.request_renewal(STATION)).status_code == 202
        await harness.until(lambda: len(acknowledgements) == 1)

        # The case itself.
        assert requests(station, "TriggerMessage") == [{"requestedMessage": "SignChargingStationCertificate"}]
        assert sign_answers == [{"status": "Accepted"}]
        assert len(requests(station, "CertificateSigned")) == 1
        assert acknowledgements == [{}]  # A04.FR.03: acknowledged
        # Recorded: the station's event, and the refused delivery in the audit log.
        (event,) = harness.events(STATION, source="station")
        assert (event.type, event.critical) == ("InvalidChargingStationCertificate", True)
        await harness.until(lambda: harness.audit("certificate.deliver"))
        assert [e.outcome for e in harness.audit("certificate.deliver")] == ["refused"]

        # One retry (not two: the Rejected answer and the event are the same refusal), after
        # backoff_seconds.
        await harness.until(lambda: len(harness.rows(STATION, RENEWAL)) == 2)
        first, retry = harness.rows(STATION, RENEWAL)
        assert (first.reference, retry.reference, retry.status) == ("1", "2", "pending")
        assert retry.next_attempt_at == clock.now + timedelta(seconds=60)
        await harness.settled()
        assert len(requests(station, "TriggerMessage")) == 1  # not before its time

        clock.advance(seconds=60)
        await harness.until(lambda: len(acknowledgements) == 2)
        assert sign_answers == [{"status": "Accepted"}] * 2
        await harness.until(lambda: len(harness.rows(STATION, RENEWAL)) == 3)
        assert harness.rows(STATION, RENEWAL)[-1].next_attempt_at == clock.now + timedelta(seconds=120)  # doubled
        clock.advance(seconds=119)
        await harness.settled()
        assert len(requests(station, "TriggerMessage")) == 2

        clock.advance(seconds=1)
        await harness.until(lambda: len(acknowledgements) == 3)
        # max_attempts rounds used up: an alert, and no fourth round however long we wait.
        await harness.until(lambda: harness.events(STATION, source="csms"))
        (alert,) = harness.events(STATION, source="csms")
        assert alert.type == RENEWAL_FAILED and alert.critical and "delivery.max_attempts" in alert.tech_info
        assert [e.outcome for e in harness.audit("certificate.alert")] == ["failed"]
        clock.advance(hours=12)
        await harness.settled()
        assert len(requests(station, "TriggerMessage")) == len(requests(station, "CertificateSigned")) == 3
        assert all(row.status == "answered" for row in harness.rows(STATION, RENEWAL))

        # The certificate the station still uses stays valid throughout.
        assert harness.csms.gateway.session(STATION).connection.client_certificate_serial == in_use
        statuses = {c.serial_hex: c.status for c in harness.certificates(STATION)}
        assert statuses[in_use] != CertStatus.REVOKED and len(statuses) == 4
