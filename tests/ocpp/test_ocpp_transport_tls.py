"""The wss listener end to end: server certificates and suites (TC_A_04/06), client
certificates (TC_A_07/08), live reload of server certificates, and an outside scanner's view."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import secrets
import ssl
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from ocpp_transport_helpers import (
    FQDN,
    events,
    issue_client_certificate,
    pem,
    register,
    rogue_certificate,
    running_gateway,
    station_ca_certificate,
    station_row,
    update_station,
    write_pair,
)
from sqlmodel import select

from api.ocpp.admission.filters import INVALID_STATION_CERTIFICATE, SECURITY_PROFILE_MISMATCH
from api.ocpp.transport.listener import TLS_READ_BUFFER
from pki.authorities import issue_server_certificates
from pki.issuance import sign_station_csr
from pki.revocation import revoke
from pki.rollover import activate_generation, retire_generation, stage_next_generation
from pki.serials import serial_hex
from policies.tls import MANDATORY_TLS12_SUITES, tls13_suites_enforceable
from simulator import StationRefused
from storage.certificates import CertKind, CertStatus, IssuedCertificate
from storage.db import session_scope
from storage.types import utcnow

PASSWORD = "Station-Password-0123"
TLS12 = ssl.TLSVersion.TLSv1_2


async def refused(station) -> StationRefused:
    with pytest.raises(StationRefused) as caught:
        await station.connect()
    return caught.value


def active_server_serials(pki) -> set[str]:
    with session_scope(pki.ctx.engine) as session:
        return set(session.exec(select(IssuedCertificate.serial_hex).where(
            IssuedCertificate.kind == CertKind.SERVER, IssuedCertificate.status == CertStatus.ACTIVE)))


# --- TC_A_04 / TC_A_06: server side ------------------------------------------------------------


@pytest.mark.parametrize("suite", MANDATORY_TLS12_SUITES)
async def test_tc_a_04_each_mandatory_suite_with_a_valid_server_certificate(sqlite_pki, tmp_path, suite):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        station = gateway.station("CP_1", password=PASSWORD, tls=gateway.tls(ciphers=suite, max_version=TLS12))
        await station.connect()
        assert (station.tls_version, station.cipher) == ("TLSv1.2", suite)
        certificate = station.server_certificate
        key = certificate.public_key()
        if "ECDSA" in suite:
            assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size >= 224
        else:
            assert isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048
            assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment
        assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == FQDN
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [FQDN]
        assert serial_hex(certificate.serial_number) in active_server_serials(sqlite_pki)
        assert (await station.boot())["status"] == "Accepted"
        await station.status_notification()
        await station.close()


async def test_tc_a_04_ecdhe_only_and_rsa_only_clients_both_get_in(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    families = {"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384": ec.EllipticCurvePublicKey,
                "AES128-GCM-SHA256:AES256-GCM-SHA384": rsa.RSAPublicKey}
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        for ciphers, key_type in families.items():
            station = gateway.station("CP_1", password=PASSWORD, tls=gateway.tls(ciphers=ciphers, max_version=TLS12))
            await station.connect()
            assert station.cipher in ciphers.split(":")
            assert isinstance(station.server_certificate.public_key(), key_type)
            await station.close()


async def test_frames_near_the_size_limit_cross_wss_whole_in_both_directions(sqlite_pki, tmp_path):
    # The listener shrinks asyncio's TLS read buffer to a few KiB (memory per idle connection);
    # a message of almost max_size must still arrive whole, read in many chunks.
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        limit = gateway.listeners.config.max_size
        assert asyncio.sslproto.SSLProtocol.max_size == TLS_READ_BUFFER <= limit // 8
        station = gateway.station("CP_1", password=PASSWORD)
        await station.connect()
        # Random hex: compression must not shrink it, so the TLS records carry it all.
        data = secrets.token_hex(limit // 2)[:limit - 200]
        assert await station.call("DataTransfer", {"vendorId": "bench", "data": data}) == {}
        [(_, action, payload)] = gateway.handler.received
        assert (action, payload["data"]) == ("DataTransfer", data)
        # ... and from the CSMS to the station (the simulator knows no vendor "bench": UnknownVendorId).
        [connection] = gateway.handler.served
        answer = await gateway.handler.call(connection, "DataTransfer", {"vendorId": "bench", "data": data})
        assert answer[0] == 3 and answer[2] == {"status": "UnknownVendorId"}
        assert station.received == [("DataTransfer", {"vendorId": "bench", "data": data})]
        await station.close()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1")  # the old versions are the point
async def test_tc_a_06_old_tls_is_refused_at_the_handshake_then_tls12_works(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        old = gateway.tls(ciphers="DEFAULT:@SECLEVEL=0", min_version=ssl.TLSVersion.TLSv1,
                          max_version=ssl.TLSVersion.TLSv1_1)
        refusal = await refused(gateway.station("CP_1", password=PASSWORD, tls=old))
        assert refusal.status is None  # no HTTP answer: the TLS handshake was aborted
        assert len(gateway.listeners.registry) == 0
        station = gateway.station("CP_1", password=PASSWORD, tls=gateway.tls(max_version=TLS12))
        await station.connect()
        assert station.tls_version == "TLSv1.2"
        assert (await station.boot())["status"] == "Accepted"
        await station.close()


# --- TC_A_07 / TC_A_08: client certificates -----------------------------------------------------


async def test_tc_a_07_valid_client_certificate_is_accepted(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_3", 3)
    chain, key, serial = issue_client_certificate(sqlite_pki, "CP_3", tmp_path)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        for tls in (gateway.tls(max_version=TLS12), gateway.tls()):
            station = gateway.station("CP_3", profile=3, client_cert=chain, client_key=key, tls=tls)
            await station.connect()
            assert (await station.boot())["status"] == "Accepted"
            connection = gateway.handler.served[-1]
            assert (connection.security_profile, connection.client_certificate_serial) == (3, serial)
            assert gateway.listeners.registry.snapshot()[0].client_certificate_serial == serial
            # Read once at admission: the certificate stays as DER on the SSL object, the ~1.9 KiB
            # dict asyncio decodes it into is dropped (idle memory per connection).
            transport = connection.websocket.transport
            assert transport.get_extra_info("peercert") is None
            der = transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
            assert x509.load_der_x509_certificate(der).serial_number == int(serial, 16)
            await station.close()


async def test_tc_a_07_rsa_client_certificates_work_too(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_RSA", 3)
    chain, key, _ = issue_client_certificate(sqlite_pki, "CP_RSA", tmp_path, key_spec="rsa-2048")
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        station = gateway.station("CP_RSA", profile=3, client_cert=chain, client_key=key)
        await station.connect()
        await station.close()


async def test_tc_a_08_invalid_client_certificates_are_refused_then_a_valid_one_works(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_3", 3)
    register(sqlite_pki, "CP_OTHER", 3)
    expired = issue_client_certificate(sqlite_pki, "CP_3", tmp_path, now=utcnow() - timedelta(days=400))[:2]
    rogue_leaf, rogue_key = rogue_certificate("CP_3")
    rogue = write_pair(tmp_path, "rogue", pem(rogue_leaf), rogue_key)
    other_cn = issue_client_certificate(sqlite_pki, "CP_OTHER", tmp_path)[:2]
    wrong_org_cert, wrong_org_key = station_ca_certificate(sqlite_pki, "CP_3", organization="Other CSO")
    wrong_org = write_pair(tmp_path, "wrong-org", pem(wrong_org_cert), wrong_org_key)
    revoked_chain, revoked_key, revoked_serial = issue_client_certificate(sqlite_pki, "CP_3", tmp_path)
    with session_scope(sqlite_pki.ctx.engine) as session:
        revoke(session, revoked_serial, "keyCompromise")
    valid = issue_client_certificate(sqlite_pki, "CP_3", tmp_path)[:2]

    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        def station(files):
            return gateway.station("CP_3", profile=3, client_cert=files[0], client_key=files[1])

        # Unknown issuer and expired: OpenSSL ends the TLS handshake itself.
        for files in (rogue, expired):
            assert (await refused(station(files))).status is None
        # Chain fine, subject or status wrong: admission answers 403 before the upgrade.
        for files in (other_cn, wrong_org, (revoked_chain, revoked_key)):
            assert (await refused(station(files))).status == 403
        assert len(gateway.listeners.registry) == 0
        accepted = station(valid)
        await accepted.connect()
        assert (await accepted.boot())["status"] == "Accepted"
        await accepted.close()

    recorded = [e for e in events(sqlite_pki, "CP_3") if e.type == INVALID_STATION_CERTIFICATE]
    reasons = " | ".join(e.tech_info for e in recorded)
    assert "CP_OTHER" in reasons and "Other CSO" in reasons and "revoked" in reasons
    assert [e.critical for e in recorded] == [False, False, True]


async def test_profile3_station_with_basic_auth_is_refused(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_3", 3)
    update_station(sqlite_pki, "CP_3", password_hash=None)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        refusal = await refused(gateway.station("CP_3", profile=2, password=PASSWORD))
        assert refusal.status == 403
    assert events(sqlite_pki, "CP_3")[0].type == SECURITY_PROFILE_MISMATCH


async def test_a05_upgrade_from_profile2_to_3_then_profile2_is_refused(sqlite_pki, tmp_path):  # TC_A_19 4-6
    register(sqlite_pki, "CP_UP", 2, PASSWORD)
    update_station(sqlite_pki, "CP_UP", pending_security_profile=3)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        # Over its profile-2 connection the station renews its certificate (A02): trigger,
        # SignCertificate with the station's CSR, CertificateSigned with our CA's answer.
        station = gateway.station("CP_UP", password=PASSWORD, organization="Test CSO")
        await station.connect()
        connection = gateway.handler.served[-1]
        trigger = await gateway.handler.call(connection, "TriggerMessage",
                                             {"requestedMessage": "SignChargingStationCertificate"})
        assert trigger[2] == {"status": "Accepted"}
        _, _, request = await gateway.handler.next_request("SignCertificate")
        with session_scope(sqlite_pki.ctx.engine) as session:
            issued = sign_station_csr(session, sqlite_pki.ctx.keystore, station_id="CP_UP", csr_pem=request["csr"],
                                      policy=sqlite_pki.ctx.policy, urls=sqlite_pki.ctx.urls)
        signed = await gateway.handler.call(connection, "CertificateSigned", {
            "certificateChain": issued.chain_pem, "certificateType": "ChargingStationCertificate"})
        assert signed[2] == {"status": "Accepted"}
        # The station reboots onto profile 3 with the new certificate: accepted, and from now
        # on profile 3 is the only one (A05.FR.07).
        station.profile = 3
        await station.reconnect()
        assert gateway.handler.served[-1].client_certificate_serial == issued.record.serial_hex
        await station.close()
        row = station_row(sqlite_pki, "CP_UP")
        assert (row.security_profile, row.pending_security_profile) == (3, None)
        assert (await refused(gateway.station("CP_UP", password=PASSWORD))).status == 403
        await station.reconnect()
        await station.close()
    with session_scope(sqlite_pki.ctx.engine) as session:
        assert session.get(IssuedCertificate, issued.record.id).status == CertStatus.ACTIVE


# --- live reload --------------------------------------------------------------------------------


async def test_reload_new_handshakes_see_new_certificates_open_connections_stay(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    register(sqlite_pki, "CP_2", 2, PASSWORD)
    old_serials = active_server_serials(sqlite_pki)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        before = gateway.station("CP_1", password=PASSWORD)
        await before.connect()
        assert serial_hex(before.server_certificate.serial_number) in old_serials

        with session_scope(sqlite_pki.ctx.engine) as session:
            issue_server_certificates(session, sqlite_pki.ctx.keystore, fqdn=FQDN, policy=sqlite_pki.ctx.policy,
                                      urls=sqlite_pki.ctx.urls)
        new_serials = active_server_serials(sqlite_pki)
        assert new_serials.isdisjoint(old_serials)
        assert await gateway.listeners.tls.refresh_if_changed()
        assert not await gateway.listeners.tls.refresh_if_changed()

        assert (await before.heartbeat())["currentTime"]  # the open connection is untouched
        for ciphers in ("ECDHE-ECDSA-AES128-GCM-SHA256", "AES256-GCM-SHA384", None):
            tls = gateway.tls(ciphers=ciphers, max_version=TLS12) if ciphers else gateway.tls()
            after = gateway.station("CP_2", password=PASSWORD, tls=tls)
            await after.connect()
            assert serial_hex(after.server_certificate.serial_number) in new_serials
            await after.close()
        assert before.connected
        await before.close()
    files = sorted(p.name for p in (sqlite_pki.ctx.settings.data_dir / "tls").glob("*.pem"))
    assert files == sorted(f"server-{f}-{s}.chain.pem" for f, s in _families(sqlite_pki).items())


async def test_reload_follows_a_root_rollover_for_client_certificates(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_OLD", 3)
    register(sqlite_pki, "CP_NEW", 3)
    old = issue_client_certificate(sqlite_pki, "CP_OLD", tmp_path)[:2]
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        def station(identity, files):
            return gateway.station(identity, profile=3, client_cert=files[0], client_key=files[1])

        ctx = sqlite_pki.ctx
        with session_scope(ctx.engine) as session:
            stage_next_generation(session, ctx.keystore, policy=ctx.policy, urls=ctx.urls)
            activate_generation(session, 2)
        new = issue_client_certificate(sqlite_pki, "CP_NEW", tmp_path)[:2]
        # The listener does not trust generation 2 until it reloads ...
        assert (await refused(station("CP_NEW", new))).status is None
        assert await gateway.listeners.tls.refresh_if_changed()
        # ... then both generations get in, over the same listening socket.
        for identity, files in (("CP_NEW", new), ("CP_OLD", old)):
            accepted = station(identity, files)
            await accepted.connect()
            await accepted.close()
        with session_scope(ctx.engine) as session:
            retire_generation(session, 1, force=True)
        assert await gateway.listeners.tls.refresh_if_changed()
        assert (await refused(station("CP_OLD", old))).status is None
        accepted = station("CP_NEW", new)
        await accepted.connect()
        await accepted.close()


def _families(pki) -> dict[str, str]:
    with session_scope(pki.ctx.engine) as session:
        rows = session.exec(select(IssuedCertificate).where(
            IssuedCertificate.kind == CertKind.SERVER, IssuedCertificate.status == CertStatus.ACTIVE)).all()
    out = {}
    for row in rows:
        key = x509.load_pem_x509_certificate(row.certificate_pem.encode()).public_key()
        out["ec" if isinstance(key, ec.EllipticCurvePublicKey) else "rsa"] = row.serial_hex
    return out


# --- an outside scanner -------------------------------------------------------------------------


def _scan(port: int):
    from sslyze import (
        ScanCommand,
        Scanner,
        ServerNetworkConfiguration,
        ServerNetworkLocation,
        ServerScanRequest,
    )
    commands = {ScanCommand.SSL_2_0_CIPHER_SUITES, ScanCommand.SSL_3_0_CIPHER_SUITES,
                ScanCommand.TLS_1_0_CIPHER_SUITES, ScanCommand.TLS_1_1_CIPHER_SUITES,
                ScanCommand.TLS_1_2_CIPHER_SUITES, ScanCommand.TLS_1_3_CIPHER_SUITES,
                ScanCommand.TLS_COMPRESSION}
    scanner = Scanner()
    scanner.queue_scans([ServerScanRequest(
        server_location=ServerNetworkLocation("127.0.0.1", port),
        network_configuration=ServerNetworkConfiguration(tls_server_name_indication=FQDN),
        scan_commands=commands)])
    [result] = list(scanner.get_results())
    return result


async def test_sslyze_sees_exactly_the_policy(sqlite_pki, tmp_path):
    policy = sqlite_pki.ctx.policy.tls
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        result = await asyncio.to_thread(_scan, gateway.listeners.wss_port)
        effective13 = {c["name"] for c in gateway.listeners.tls.material.context.get_ciphers()
                       if c["protocol"] == "TLSv1.3"}
    assert result.connectivity_error_trace is None, result.connectivity_error_trace
    scans = result.scan_result

    def accepted(attempt) -> set[str]:
        assert attempt.error_trace is None, attempt.error_trace
        return {c.cipher_suite.openssl_name for c in attempt.result.accepted_cipher_suites}

    for old in (scans.ssl_2_0_cipher_suites, scans.ssl_3_0_cipher_suites,
                scans.tls_1_0_cipher_suites, scans.tls_1_1_cipher_suites):
        assert accepted(old) == set()
    assert accepted(scans.tls_1_2_cipher_suites) == set(policy.tls12_ciphers)
    tls13 = accepted(scans.tls_1_3_cipher_suites)
    assert tls13 == effective13
    if tls13_suites_enforceable():
        assert tls13 == set(policy.tls13_ciphersuites), "exactly the policy's TLS 1.3 suites"
    else:  # another interpreter: the policy's suites at least (policies/tls.py)
        assert set(policy.tls13_ciphersuites) <= tls13
    assert scans.tls_compression.result.supports_compression is False


# --- refusals OpenSSL decides (issue 9 item 5) ----------------------------------------------------


def self_signed_certificate(station_id: str):
    """(certificate, key): a station certificate that signs itself."""
    from datetime import datetime, timezone

    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from simulator.keys import new_private_key

    key = new_private_key("ec-p256")
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test CSO"),
                      x509.NameAttribute(NameOID.COMMON_NAME, station_id)])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=30))
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .sign(key, hashes.SHA256()))
    return certificate, key


async def recorded_from(pki, source: str, timeout: float = 5):
    async with asyncio.timeout(timeout):
        while True:
            found = [e for e in events(pki) if e.source_address == source]
            if found:
                return found
            await asyncio.sleep(0.02)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1")  # the old versions are the point
async def test_tls_refusals_are_recorded_with_their_rule_and_logged(sqlite_pki, tmp_path, caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="chargeca.ocpp.admission")
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    register(sqlite_pki, "CP_3", 3)
    expired = issue_client_certificate(sqlite_pki, "CP_3", tmp_path, now=utcnow() - timedelta(days=400))[:2]
    rogue = write_pair(tmp_path, "rogue", *(lambda c, k: (pem(c), k))(*rogue_certificate("CP_3")))
    self_signed = write_pair(tmp_path, "self-signed", *(lambda c, k: (pem(c), k))(*self_signed_certificate("CP_3")))
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        old = gateway.tls(ciphers="DEFAULT:@SECLEVEL=0", min_version=ssl.TLSVersion.TLSv1,
                          max_version=ssl.TLSVersion.TLSv1_1)
        unshared = gateway.tls(ciphers="ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA", max_version=TLS12)
        cases = [
            ("127.0.3.1", gateway.station("CP_1", password=PASSWORD, tls=old), "InvalidTLSVersion", "tls.version"),
            ("127.0.3.2", gateway.station("CP_1", password=PASSWORD, tls=unshared), "InvalidTLSCipherSuite",
             "tls.cipher"),
            ("127.0.3.3", gateway.station("CP_3", profile=3, client_cert=self_signed[0], client_key=self_signed[1]),
             INVALID_STATION_CERTIFICATE, "sp3.chain"),
            ("127.0.3.4", gateway.station("CP_3", profile=3, client_cert=rogue[0], client_key=rogue[1]),
             INVALID_STATION_CERTIFICATE, "sp3.chain"),
            ("127.0.3.5", gateway.station("CP_3", profile=3, client_cert=expired[0], client_key=expired[1]),
             INVALID_STATION_CERTIFICATE, "sp3.expired"),
        ]
        for source, station, event_type, rule in cases:
            station.source_address = source
            for _ in range(3):   # the same refusal again: counted into the same row
                assert (await refused(station)).status is None
            await recorded_from(sqlite_pki, source)
        assert len(gateway.listeners.registry) == 0
    for source, _, event_type, rule in cases:
        [event] = [e for e in events(sqlite_pki) if e.source_address == source]
        assert (event.type, event.occurrences) == (event_type, 3), (source, event.tech_info)
        assert event.tech_info.startswith(f"{rule}: TLS") and source in event.tech_info
        assert event.station_id is None   # no identity is known before the upgrade
    lines = [r.getMessage() for r in caplog.records if r.name == "chargeca.ocpp.admission"]
    for source, _, _, rule in cases:
        assert sum(rule in line and source in line for line in lines) >= 1
    assert len(lines) <= 2 * len(cases)   # the first one each, then one summary line each
