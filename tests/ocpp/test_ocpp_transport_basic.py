"""The OCPP listeners end to end with Basic-auth stations (profiles 1 and 2): real listeners on
loopback, real TLS, the simulated station as client."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import string
from dataclasses import replace

import pytest
from ocpp_transport_helpers import events, register, running_gateway, station_row, update_station
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from api.core.credentials import hash_secret
from api.ocpp.admission.filters import FAILED_AUTHENTICATION, SECURITY_PROFILE_MISMATCH, UNKNOWN_STATION
from api.ocpp.admission.throttle import ThrottleSettings
from policies.model import AdmissionPolicy
from simulator import StationRefused

PASSWORD = "Station-Password-0123"


async def refused(station) -> StationRefused:
    with pytest.raises(StationRefused) as caught:
        await station.connect()
    return caught.value


async def test_tc_a_01_valid_basic_credentials_upgrade_and_boot(sqlite_pki, tmp_path):
    password = register(sqlite_pki, "CP_1", 2)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        station = gateway.station("CP_1", password=password)
        await station.connect()
        assert station.subprotocol == "ocpp2.0.1"
        assert (await station.boot())["status"] == "Accepted"
        [info] = gateway.listeners.registry.snapshot()
        assert (info.station_id, info.security_profile, info.client_certificate_serial) == ("CP_1", 2, None)
        assert info.tls_version in ("TLSv1.2", "TLSv1.3")
        await station.close()


async def test_profile1_over_plain_websocket(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_PLAIN", 1, PASSWORD)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        station = gateway.station("CP_PLAIN", profile=1, password=PASSWORD)
        await station.connect()
        assert station.tls_version is None
        assert (await station.boot())["status"] == "Accepted"
        assert gateway.listeners.registry.get("CP_PLAIN").security_profile == 1
        await station.close()


async def test_identity_may_follow_a_path_prefix_and_be_percent_encoded(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP 7@site", 2, PASSWORD)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        station = gateway.station("CP 7@site", path="/ocpp", password=PASSWORD)
        assert station.url.endswith("/ocpp/CP%207%40site")
        await station.connect()
        assert "CP 7@site" in gateway.listeners.registry
        await station.close()


async def test_tc_a_02_username_other_than_identity_is_refused_before_upgrade(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        refusal = await refused(gateway.station("CP_1", password=PASSWORD, username="CP_1Invalid"))
        assert refusal.status == 401
        assert refusal.headers["WWW-Authenticate"].startswith("Basic")
        assert len(gateway.listeners.registry) == 0
    [event] = events(sqlite_pki, "CP_1")
    assert event.type == FAILED_AUTHENTICATION and "CP_1Invalid" in event.tech_info


async def test_tc_a_03_random_password_or_no_header_is_refused(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    alphabet = string.ascii_letters + string.digits + "*-_=:+|@."
    guesses = ["".join(secrets.choice(alphabet) for _ in range(n)) for n in (16, 28, 40)]
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        for guess in guesses:
            assert (await refused(gateway.station("CP_1", password=guess))).status == 401
        assert (await refused(gateway.station("CP_1", password=None))).status == 401
    # One row per (source address, rule), with the count: wrong passwords x3, no header x1.
    recorded = events(sqlite_pki, "CP_1")
    assert [(e.type, e.occurrences) for e in recorded] == [(FAILED_AUTHENTICATION, 3), (FAILED_AUTHENTICATION, 1)]
    assert "wrong password" in recorded[0].tech_info and recorded[0].source_address == "127.0.0.1"
    assert "no Authorization header" in recorded[1].tech_info
    assert recorded[0].last_seen_at >= recorded[0].occurred_at
    for guess in guesses:
        assert all(guess not in e.tech_info for e in recorded)


async def test_unknown_station_gets_404(sqlite_pki, tmp_path):
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        refusal = await refused(gateway.station("NOBODY", password=PASSWORD))
        assert refusal.status == 404
    assert events(sqlite_pki, "NOBODY")[0].type == UNKNOWN_STATION


async def test_profile_mismatch_is_refused_with_403(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_2", 2, PASSWORD)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        # A profile-2 station on the plain port (profile 1): a downgrade, refused (A00.FR.002).
        refusal = await refused(gateway.station("CP_2", profile=1, password=PASSWORD))
        assert refusal.status == 403 and "profile 2" in refusal.reason
    [event] = events(sqlite_pki, "CP_2")
    assert event.type == SECURITY_PROFILE_MISMATCH and "security profile 1" in event.tech_info


async def test_password_change_first_successful_authentication_decides(sqlite_pki, tmp_path):  # A01
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    new = "Next-Password-4567890"
    update_station(sqlite_pki, "CP_1", pending_password_hash=hash_secret(new))
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        station = gateway.station("CP_1", password=new)
        await station.connect()
        await station.close()
        assert station_row(sqlite_pki, "CP_1").pending_password_hash is None
        assert (await refused(gateway.station("CP_1", password=PASSWORD))).status == 401


async def test_throttling_after_repeated_failures(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    throttle = ThrottleSettings(free_failures=2, base_delay=1.0, max_delay=4.0)
    async with running_gateway(sqlite_pki, tmp_path, throttle=throttle) as gateway:
        for _ in range(3):
            assert (await refused(gateway.station("CP_1", password="Wrong-Password-0000"))).status == 401
        # Now even the right password waits: 429 with Retry-After, checked without hashing.
        throttled = await refused(gateway.station("CP_1", password=PASSWORD))
        assert throttled.status == 429 and throttled.headers["Retry-After"] == "1"
        await asyncio.sleep(1.1)
        station = gateway.station("CP_1", password=PASSWORD)
        await station.connect()
        await station.close()
    assert "auth.throttled" in events(sqlite_pki, "CP_1")[-1].tech_info


async def test_a_repeated_authorization_header_is_refused_as_malformed_not_500(sqlite_pki, tmp_path, caplog):
    # Authorization is one field: two lines of it combine into one value (RFC 9110 5.3), no Basic
    # credentials. Reading it as one value raised, and every such request logged a traceback.
    register(sqlite_pki, "CP_1", 1, PASSWORD)
    basic = "Basic " + base64.b64encode(f"CP_1:{PASSWORD}".encode()).decode()
    caplog.set_level(logging.INFO)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        with pytest.raises(InvalidStatus) as caught:
            async with connect(f"{gateway.ws_url}/CP_1", subprotocols=["ocpp2.0.1"], proxy=None,
                               additional_headers=[("Authorization", basic), ("Authorization", basic)]):
                pass
        assert caught.value.response.status_code == 401
        assert caught.value.response.headers["WWW-Authenticate"].startswith("Basic")
        assert len(gateway.listeners.registry) == 0
    [event] = events(sqlite_pki, "CP_1")
    assert event.type == FAILED_AUTHENTICATION and "auth.malformed" in event.tech_info
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_tc_b_58_without_ocpp201_the_upgrade_is_refused(sqlite_pki, tmp_path):
    # ERR2509 §5.10: a 4xx answer, never a 101 followed by a close.
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        for offered in (["ocpp0.1"], [], ["ocpp1.6", "ocpp2.0"]):
            station = gateway.station("CP_1", password=PASSWORD, subprotocols=offered)
            with pytest.raises(StationRefused) as refused:
                await station.connect()
            assert refused.value.status == 400, offered
        assert gateway.handler.served == []

        both = gateway.station("CP_1", password=PASSWORD, subprotocols=["ocpp0.1", "ocpp2.0.1"])
        await both.connect()
        assert both.websocket.response.headers["Sec-WebSocket-Protocol"] == "ocpp2.0.1"
        assert (await both.boot())["status"] == "Accepted"
        await both.close()


async def test_permessage_deflate_is_negotiated(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        station = gateway.station("CP_1", password=PASSWORD)
        await station.connect()
        extensions = station.websocket.response.headers["Sec-WebSocket-Extensions"]
        assert "permessage-deflate" in extensions
        # No context takeover either way: no zlib state is kept per idle connection.
        assert "server_no_context_takeover" in extensions and "client_no_context_takeover" in extensions
        assert (await station.boot())["status"] == "Accepted"  # and compressed frames flow
        await station.close()


async def test_small_messages_go_uncompressed_larger_ones_compressed(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        station = gateway.station("CP_1", password=PASSWORD)
        await station.connect()
        [deflate] = station.websocket.protocol.extensions
        compressed: list[bool] = []   # RSV1 of each message the station reads, in order
        read = deflate.decode

        def decode(frame, *, max_size=None):
            compressed.append(frame.rsv1)
            return read(frame, max_size=max_size)

        deflate.decode = decode
        assert (await station.boot())["status"] == "Accepted"
        data = "meter " * 100
        [connection] = gateway.handler.served
        answer = await gateway.handler.call(connection, "DataTransfer", {"vendorId": "org.example", "data": data})
        assert answer[0] == 3
        # The boot's answer (under 256 bytes) as it is; the 600-byte call deflated, and read whole.
        assert compressed == [False, True]
        assert [payload["data"] for action, payload in station.received if action == "DataTransfer"] == [data]
        await station.close()


async def test_oversized_frame_closes_the_connection_with_1009(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    # No read ceiling: this handler is not the OCPP session, which reads a larger frame for the
    # message log before closing (tests/ocpp/test_message_log_sessions.py).
    async with running_gateway(sqlite_pki, tmp_path, max_size=16 * 1024, read_ceiling=None) as gateway:
        station = gateway.station("CP_1", password=PASSWORD)
        await station.connect()
        await station.boot()
        # Random text: compression must not shrink it under the limit.
        await station.send_raw('[2,"1","DataTransfer",{"vendorId":"x","data":"%s"}]' % secrets.token_hex(10_000))
        code, _ = await station.wait_closed()
        assert code == 1009


async def test_a_second_connection_replaces_the_first(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        first = gateway.station("CP_1", password=PASSWORD)
        await first.connect()
        second = gateway.station("CP_1", password=PASSWORD)
        await second.connect()
        code, reason = await first.wait_closed()
        assert code == 1000 and "replaced" in reason
        assert (await second.heartbeat())["currentTime"]
        assert gateway.listeners.registry.get("CP_1").websocket is gateway.handler.served[-1].websocket
        assert len(gateway.listeners.registry) == 1
        await second.close()
        await asyncio.sleep(0.05)
        assert len(gateway.listeners.registry) == 0


async def test_a_second_connection_is_refused_when_policy_says_so(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    ctx = sqlite_pki.ctx
    strict = replace(ctx, policy=replace(ctx.policy, admission=AdmissionPolicy(replace_duplicate_connection=False)))
    async with running_gateway(replace(sqlite_pki, ctx=strict), tmp_path) as gateway:
        first = gateway.station("CP_1", password=PASSWORD)
        await first.connect()
        assert (await refused(gateway.station("CP_1", password=PASSWORD))).status == 409
        assert (await first.heartbeat())["currentTime"]
        await first.close()


async def test_credentials_never_reach_the_logs(sqlite_pki, tmp_path, caplog):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    wrong = "Wrong-Password-9876543"
    caplog.set_level(logging.DEBUG)
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        station = gateway.station("CP_1", password=PASSWORD)
        await station.connect()
        await station.close()
        await refused(gateway.station("CP_1", password=wrong))
    text = caplog.text
    assert "Authorization" in text  # websockets did log the header line ...
    for secret in (PASSWORD, wrong):  # ... but not its value
        assert secret not in text
        assert base64.b64encode(f"CP_1:{secret}".encode()).decode() not in text


async def test_a_load_balancers_health_check_gets_200_on_both_ports_and_leaves_no_trace(sqlite_pki, tmp_path):
    import ssl

    async def get_health(port: int, context: ssl.SSLContext | None) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        writer.write(b"GET /health HTTP/1.1\r\nHost: csms\r\n\r\n")
        answer = await reader.read(4096)
        writer.close()
        return answer

    unchecked = ssl.create_default_context()
    unchecked.check_hostname, unchecked.verify_mode = False, ssl.CERT_NONE   # as `check-ssl verify none` does
    async with running_gateway(sqlite_pki, tmp_path) as gateway:
        for port, context in ((gateway.listeners.ws_port, None), (gateway.listeners.wss_port, unchecked)):
            answer = await get_health(port, context)
            assert answer.startswith(b"HTTP/1.1 200 OK"), answer
            assert answer.endswith(b"ok\n")
        await gateway.listeners.refusals.flush()
        assert events(sqlite_pki) == [], "a health check is neither a refusal nor a security event"
        # A station's upgrade to the same path is a station's connection, admitted (here refused) as any other.
        refusal = await refused(gateway.station("health", path="/", password=PASSWORD))
        assert refusal.status == 404
