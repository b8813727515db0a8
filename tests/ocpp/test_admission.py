"""Each admission filter on its own, then the pipeline with the real database store."""

from __future__ import annotations

import base64
from datetime import timedelta
from http import HTTPStatus

import pytest
from cryptography import x509
from ocpp_transport_helpers import (
    events,
    issue_client_certificate,
    register,
    rogue_certificate,
    station_ca_certificate,
    station_row,
    update_station,
)
from sqlmodel import select

from api.core.credentials import RecentVerifications, hash_secret, verify_secret
from api.ocpp.admission.filters import (
    AUTHENTICATION_THROTTLED,
    CURRENT,
    DUPLICATE_CONNECTION,
    FAILED_AUTHENTICATION,
    INVALID_STATION_CERTIFICATE,
    PENDING,
    UNKNOWN_STATION,
    Admission,
    Admitted,
    BasicCredentials,
    Candidate,
    ClientCertificate,
    ConnectAttempt,
    DuplicateConnection,
    DuplicateOnAnotherNode,
    KnownStation,
    NotThrottled,
    Refused,
    StationView,
    check_basic,
    check_profile,
    default_filters,
    parse_identity,
)
from api.ocpp.admission.store import DatabaseAdmissionStore
from api.ocpp.admission.throttle import AuthenticationThrottle, FailureThrottle, ThrottleSettings
from api.ocpp.transport.connection import StationConnection
from api.ocpp.transport.registry import ConnectionRegistry
from pki.revocation import revoke
from storage.certificates import CertStatus, IssuedCertificate
from storage.db import session_scope
from storage.types import utcnow

PASSWORD = "Correct-Horse-Battery-42"
NEW_PASSWORD = "Brand-New-Password-0815"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def refusal(call, *args, **kwargs) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args, **kwargs)
    return caught.value


async def arefusal(coroutine) -> Refused:
    with pytest.raises(Refused) as caught:
        await coroutine
    return caught.value


# --- identity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path, identity", [
    ("/CP_1", "CP_1"),
    ("/ocpp/CP_1", "CP_1"),
    ("/ocpp/v201/CP_1", "CP_1"),
    ("/CP_1?vendor=x", "CP_1"),
    ("/ocpp/CP%201%40site", "CP 1@site"),
    ("/" + "A" * 48, "A" * 48),
])
def test_identity_is_the_last_path_segment_percent_decoded(path, identity):
    assert parse_identity(path) == identity


@pytest.mark.parametrize("path, rule", [
    ("/", "identity.missing"),
    ("/ocpp/", "identity.missing"),
    ("/CP_1/", "identity.missing"),
    ("/" + "A" * 49, "identity.length"),
    ("/CP%3A1", "identity.characters"),
    ("/CP%2F1", "identity.characters"),
    ("/CP%001", "identity.characters"),
    ("/CP%FF", "identity.encoding"),
])
def test_bad_identities_get_400_with_the_rule(path, rule):
    refused = refusal(parse_identity, path)
    assert refused.status == HTTPStatus.BAD_REQUEST and refused.rule == rule


# --- known station ------------------------------------------------------------------------------


async def test_unknown_station_is_404_and_disabled_is_403(sqlite_pki):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    register(sqlite_pki, "CP_OFF", 2, PASSWORD)
    update_station(sqlite_pki, "CP_OFF", enabled=False)
    known = KnownStation(DatabaseAdmissionStore(sqlite_pki.ctx.engine).station)

    candidate = Candidate(ConnectAttempt("/CP_1", None, 2), identity="CP_1")
    await known(candidate)
    assert candidate.station.id == "CP_1" and candidate.station.security_profile == 2

    unknown = await arefusal(known(Candidate(ConnectAttempt("/CP_X", None, 2), identity="CP_X")))
    assert (unknown.status, unknown.event_type) == (HTTPStatus.NOT_FOUND, UNKNOWN_STATION)
    disabled = await arefusal(known(Candidate(ConnectAttempt("/CP_OFF", None, 2), identity="CP_OFF")))
    assert disabled.status == HTTPStatus.FORBIDDEN and "disabled" in disabled.reason


# --- throttle -----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_backs_off_exponentially_and_forgets_on_success():
    clock = Clock()
    throttle = FailureThrottle(ThrottleSettings(free_failures=2, base_delay=1.0, max_delay=5.0), clock)
    assert [throttle.failed("CP_1") for _ in range(6)] == [0, 0, 1.0, 2.0, 4.0, 5.0]
    assert throttle.retry_after("CP_1") == 5.0
    assert throttle.retry_after("CP_2") == 0
    clock.now += 5.0
    assert throttle.retry_after("CP_1") == 0
    throttle.succeeded("CP_1")
    assert throttle.failed("CP_1") == 0


async def test_throttled_identity_gets_429_with_retry_after_only_from_the_failing_source():
    clock = Clock()
    throttle = AuthenticationThrottle(ThrottleSettings(free_failures=1, base_delay=8.0, max_delay=60.0), clock)
    gate = NotThrottled(throttle)
    candidate = Candidate(ConnectAttempt("/CP_1", None, 2, remote_address="192.0.2.1:4000"), identity="CP_1")
    elsewhere = Candidate(ConnectAttempt("/CP_1", None, 2, remote_address="192.0.2.2:4000"), identity="CP_1")
    throttle.failed("192.0.2.1", "CP_1", credentials=True)
    await gate(candidate)  # the free failure does not block
    throttle.failed("192.0.2.1", "CP_1", credentials=True)
    refused = await arefusal(gate(candidate))
    assert refused.status == HTTPStatus.TOO_MANY_REQUESTS and refused.event_type == AUTHENTICATION_THROTTLED
    assert refused.headers["Retry-After"] == "8"
    await gate(elsewhere)  # the same identity from another address is not held back
    clock.now += 8.5
    await gate(candidate)


# --- security profile ---------------------------------------------------------------------------


def test_profile_must_be_the_configured_or_the_pending_one():
    station = StationView("CP_1", security_profile=2, pending_security_profile=3)
    assert check_profile(station, 2) is False
    assert check_profile(station, 3) is True  # A05: the upgrade target is let in
    refused = refusal(check_profile, station, 1)
    assert refused.status == HTTPStatus.FORBIDDEN
    assert "profile 1" in refused.reason and "profile 2 or 3" in refused.reason


def test_profile3_station_connecting_with_basic_auth_is_refused():
    refused = refusal(check_profile, StationView("CP_1", security_profile=3), 2)
    assert "wss:// with Basic auth" in refused.reason and "must use profile 3" in refused.reason


# --- Basic credentials --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hashes_():
    return hash_secret(PASSWORD), hash_secret(NEW_PASSWORD)


def test_right_username_and_password_pass(hashes_):
    station = StationView("CP_1", 2, password_hash=hashes_[0])
    assert check_basic(station, "CP_1", basic("CP_1", PASSWORD)).matched == CURRENT


def test_username_other_than_identity_is_refused(hashes_):  # TC_A_02
    station = StationView("CP_1", 2, password_hash=hashes_[0])
    refused = refusal(check_basic, station, "CP_1", basic("CP_1Invalid", PASSWORD))
    assert refused.status == HTTPStatus.UNAUTHORIZED and refused.rule == "auth.username"
    assert refused.headers["WWW-Authenticate"].startswith("Basic ")
    assert refused.event_type == FAILED_AUTHENTICATION and refused.counts_as_failure


@pytest.mark.parametrize("header, rule", [
    (None, "auth.missing"),
    ("Bearer abc", "auth.scheme"),
    ("Basic %%%", "auth.malformed"),
    ("Basic " + base64.b64encode(b"no-colon").decode(), "auth.malformed"),
    ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "auth.malformed"),
    (basic("CP_1", "x" * 24), "auth.password"),
])
def test_missing_or_broken_or_wrong_credentials_are_401(hashes_, header, rule):
    refused = refusal(check_basic, StationView("CP_1", 2, password_hash=hashes_[0]), "CP_1", header)
    assert (refused.status, refused.rule) == (HTTPStatus.UNAUTHORIZED, rule)
    assert PASSWORD not in refused.reason and "x" * 24 not in refused.reason


def test_password_may_contain_colons():
    password = "a:b:c:d:e:f:g:h:i:j"
    station = StationView("CP_1", 2, password_hash=hash_secret(password))
    assert check_basic(station, "CP_1", basic("CP_1", password)).matched == CURRENT


def test_while_a_password_change_is_open_both_passwords_pass(hashes_):  # A01
    station = StationView("CP_1", 2, password_hash=hashes_[0], pending_password_hash=hashes_[1])
    assert check_basic(station, "CP_1", basic("CP_1", PASSWORD)).matched == CURRENT
    assert check_basic(station, "CP_1", basic("CP_1", NEW_PASSWORD)).matched == PENDING


def test_station_without_password_is_refused():
    refused = refusal(check_basic, StationView("CP_1", 2), "CP_1", basic("CP_1", PASSWORD))
    assert refused.rule == "auth.no_password"


# --- recent successful verifications (reconnect storms without argon2 each time) ---------------


class CountingVerify:
    """The real check, counting the argon2 runs (an absent hash runs none)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, stored_hash, secret) -> bool:
        self.calls += bool(stored_hash)
        return verify_secret(stored_hash, secret)


def test_only_a_verified_password_is_remembered_and_only_for_its_hash(hashes_):
    recent, verify = RecentVerifications(), CountingVerify()
    old_hash, new_hash = hashes_
    assert recent.verify("CP_1", old_hash, PASSWORD, verify) and verify.calls == 1
    assert recent.verify("CP_1", old_hash, PASSWORD, verify) and verify.calls == 1  # remembered
    assert not recent.verify("CP_1", old_hash, "Wrong-Password-000000", verify) and verify.calls == 2
    assert not recent.verify("CP_1", old_hash, "Wrong-Password-000000", verify) and verify.calls == 3  # never kept
    assert not recent.known("CP_2", old_hash, PASSWORD)  # another station, same hash and password
    # Rotation: the stored hash changed, so the old password meets argon2 again, and fails.
    assert not recent.verify("CP_1", new_hash, PASSWORD, verify) and verify.calls == 4


def test_remembered_verifications_expire_and_are_bounded(hashes_):
    clock = Clock()
    recent = RecentVerifications(ttl=60, max_entries=2, clock=lambda: clock.now)
    recent.verify("CP_1", hashes_[0], PASSWORD)
    clock.now += 59
    assert recent.known("CP_1", hashes_[0], PASSWORD)
    clock.now += 1
    assert not recent.known("CP_1", hashes_[0], PASSWORD)
    for station in ("CP_1", "CP_2", "CP_3"):
        recent.verify(station, hashes_[0], PASSWORD)
    assert len(recent) == 2 and not recent.known("CP_1", hashes_[0], PASSWORD)


async def test_a_reconnect_with_the_same_password_skips_argon2_a_wrong_one_never_does(hashes_):
    verify = CountingVerify()
    credentials = BasicCredentials(verify, recent=RecentVerifications())
    station = StationView("CP_1", 2, password_hash=hashes_[0])

    async def connect(password: str) -> Candidate:
        candidate = Candidate(ConnectAttempt("/CP_1", basic("CP_1", password), 2), identity="CP_1", station=station)
        await credentials(candidate)
        return candidate

    assert (await connect(PASSWORD)).password.matched == CURRENT and verify.calls == 1
    assert (await connect(PASSWORD)).password.matched == CURRENT and verify.calls == 1
    refused = await arefusal(connect("Wrong-Password-000000"))
    assert refused.rule == "auth.password" and verify.calls == 2
    await arefusal(connect("Wrong-Password-000000"))
    assert verify.calls == 3


async def test_a01_decides_the_same_with_remembered_passwords(sqlite_pki):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    admission = pipeline(sqlite_pki)
    await admission.admit(ConnectAttempt("/CP_1", basic("CP_1", PASSWORD), 2))  # remembered now
    # Rotation begun, answer unknown: both pass, the new one as the pending password.
    update_station(sqlite_pki, "CP_1", pending_password_hash=hash_secret(NEW_PASSWORD))
    store = DatabaseAdmissionStore(sqlite_pki.ctx.engine)
    [credentials] = [f for f in admission.filters if isinstance(f, BasicCredentials)]
    for password, matched in ((PASSWORD, CURRENT), (NEW_PASSWORD, PENDING)):
        candidate = Candidate(ConnectAttempt("/CP_1", basic("CP_1", password), 2), identity="CP_1",
                              station=store.station("CP_1"))
        await credentials(candidate)
        assert candidate.password.matched == matched
    # The station uses the new password first: only it stays; the remembered old one is refused.
    await admission.admit(ConnectAttempt("/CP_1", basic("CP_1", NEW_PASSWORD), 2))
    assert station_row(sqlite_pki, "CP_1").pending_password_hash is None
    refused = await arefusal(admission.admit(ConnectAttempt("/CP_1", basic("CP_1", PASSWORD), 2)))
    assert refused.rule == "auth.password"
    await admission.admit(ConnectAttempt("/CP_1", basic("CP_1", NEW_PASSWORD), 2))


async def test_a01_rejected_rotation_keeps_only_the_old_password_with_remembered_ones(sqlite_pki):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    admission = pipeline(sqlite_pki)
    await admission.admit(ConnectAttempt("/CP_1", basic("CP_1", PASSWORD), 2))
    update_station(sqlite_pki, "CP_1", pending_password_hash=hash_secret(NEW_PASSWORD))
    [credentials] = [f for f in admission.filters if isinstance(f, BasicCredentials)]
    candidate = Candidate(ConnectAttempt("/CP_1", basic("CP_1", NEW_PASSWORD), 2), identity="CP_1",
                          station=DatabaseAdmissionStore(sqlite_pki.ctx.engine).station("CP_1"))
    await credentials(candidate)  # the new password verified (and is remembered) as the pending one
    assert candidate.password.matched == PENDING
    # The station answered Rejected: the pending password is dropped, the old one stays.
    update_station(sqlite_pki, "CP_1", pending_password_hash=None)
    refused = await arefusal(admission.admit(ConnectAttempt("/CP_1", basic("CP_1", NEW_PASSWORD), 2)))
    assert refused.rule == "auth.password"
    await admission.admit(ConnectAttempt("/CP_1", basic("CP_1", PASSWORD), 2))


# --- client certificate (profile 3) ---------------------------------------------------------------


def certificate_filter(pki) -> ClientCertificate:
    store = DatabaseAdmissionStore(pki.ctx.engine)
    station_ca = pki.hierarchy.station_ca
    return ClientCertificate(lambda: {station_ca.id: station_ca.certificate}, store.organization,
                             store.certificate_record)


def load(chain_path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(chain_path.read_bytes())[0]


def test_a_certificate_from_our_station_ca_for_this_station_passes(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_3", 3)
    chain, _, serial = issue_client_certificate(sqlite_pki, "CP_3", tmp_path)
    match = certificate_filter(sqlite_pki).check("CP_3", load(chain))
    assert match.verified.serial_hex == serial and match.status == CertStatus.ISSUED
    assert match.verified.issuer_ca_id == sqlite_pki.hierarchy.station_ca.id


def test_bad_client_certificates_are_refused_each_with_its_reason(sqlite_pki, tmp_path):  # TC_A_08
    register(sqlite_pki, "CP_3", 3)
    register(sqlite_pki, "CP_OTHER", 3)
    check = certificate_filter(sqlite_pki).check
    expired, _, _ = issue_client_certificate(sqlite_pki, "CP_3", tmp_path, now=utcnow() - timedelta(days=400))
    future, _, _ = issue_client_certificate(sqlite_pki, "CP_3", tmp_path, now=utcnow() + timedelta(days=2))
    other, _, _ = issue_client_certificate(sqlite_pki, "CP_OTHER", tmp_path)
    revoked, _, revoked_serial = issue_client_certificate(sqlite_pki, "CP_3", tmp_path)
    with session_scope(sqlite_pki.ctx.engine) as session:
        revoke(session, revoked_serial, "keyCompromise")
    wrong_org, _ = station_ca_certificate(sqlite_pki, "CP_3", organization="Other CSO")
    unrecorded, _ = station_ca_certificate(sqlite_pki, "CP_3", record=False)
    rogue, _ = rogue_certificate("CP_3")

    cases = {
        "sp3.expired": load(expired),
        "sp3.not_yet_valid": load(future),
        "sp3.common_name": load(other),
        "sp3.revoked": load(revoked),
        "sp3.organization": wrong_org,
        "sp3.unrecorded": unrecorded,
        "sp3.chain": rogue,
    }
    for rule, certificate in cases.items():
        refused = refusal(check, "CP_3", certificate)
        assert (refused.rule, refused.status) == (rule, HTTPStatus.FORBIDDEN), refused
        assert refused.event_type == INVALID_STATION_CERTIFICATE
    assert refusal(check, "CP_3", load(revoked)).critical
    assert "Other CSO" in refusal(check, "CP_3", wrong_org).reason
    assert "CP_OTHER" in refusal(check, "CP_3", load(other)).reason


def test_no_client_certificate_on_profile3_is_refused(sqlite_pki):
    assert refusal(certificate_filter(sqlite_pki).check, "CP_3", None).rule == "sp3.missing"


# --- duplicate connection -------------------------------------------------------------------------


async def test_duplicate_is_refused_only_when_configured():
    registry = ConnectionRegistry()
    registry.register(StationConnection("CP_1", 2, websocket=None, subprotocol="ocpp2.0.1"))
    candidate = Candidate(ConnectAttempt("/CP_1", None, 2), identity="CP_1")
    await DuplicateConnection(registry, replace=True)(candidate)
    refused = await arefusal(DuplicateConnection(registry, replace=False)(candidate))
    assert refused.status == HTTPStatus.CONFLICT and refused.event_type == DUPLICATE_CONNECTION
    await DuplicateConnection(registry, replace=False)(Candidate(ConnectAttempt("/CP_2", None, 2), identity="CP_2"))


class OtherNodes:
    """A cluster's presence as admission reads it: the stations other live nodes hold."""

    def __init__(self, held: dict[str, str]) -> None:
        self.held = held
        self.asked: list[str] = []

    async def __call__(self, station_id: str) -> str | None:
        self.asked.append(station_id)
        return self.held.get(station_id)


async def test_a_station_held_by_another_node_is_refused_as_a_duplicate_only_when_configured():
    other_nodes = OtherNodes({"CP_1": "node-a"})
    candidate = Candidate(ConnectAttempt("/CP_1", None, 2), identity="CP_1")
    await DuplicateOnAnotherNode(other_nodes, replace=True)(candidate)
    assert other_nodes.asked == [], "the default policy costs no read"

    refused = await arefusal(DuplicateOnAnotherNode(other_nodes, replace=False)(candidate))
    registry = ConnectionRegistry()
    registry.register(StationConnection("CP_1", 2, websocket=None, subprotocol="ocpp2.0.1"))
    here = await arefusal(DuplicateConnection(registry, replace=False)(candidate))
    assert (refused.status, refused.event_type, refused.rule, refused.public, refused.counts_for_source) == \
        (here.status, here.event_type, here.rule, here.public, here.counts_for_source)
    assert "node-a" in refused.reason and "node-a" not in refused.public

    # Nobody else holds it (never connected, released, or its node's lease ran out).
    await DuplicateOnAnotherNode(other_nodes, replace=False)(Candidate(ConnectAttempt("/CP_2", None, 2),
                                                                       identity="CP_2"))


# --- the pipeline with the database ---------------------------------------------------------------


def pipeline(pki, throttle: AuthenticationThrottle | None = None, *, replace_duplicate: bool = True,
             holder_elsewhere=None) -> Admission:
    store = DatabaseAdmissionStore(pki.ctx.engine)
    throttle = throttle or AuthenticationThrottle()
    station_ca = pki.hierarchy.station_ca
    filters = default_filters(store, throttle=throttle, registry=ConnectionRegistry(),
                              replace_duplicate=replace_duplicate,
                              anchors=lambda: {station_ca.id: station_ca.certificate},
                              holder_elsewhere=holder_elsewhere)
    return Admission(filters, store, throttle)


async def test_refusals_become_security_events_without_the_password(sqlite_pki):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    wrong = "Wrong-Password-1234567"
    refused = await arefusal(pipeline(sqlite_pki).admit(
        ConnectAttempt("/CP_1", basic("CP_1", wrong), 2, remote_address="192.0.2.7:5555")))
    assert refused.status == HTTPStatus.UNAUTHORIZED
    [event] = events(sqlite_pki, "CP_1")
    assert (event.source, event.type) == ("csms", FAILED_AUTHENTICATION)
    assert "wrong password" in event.tech_info and "192.0.2.7" in event.tech_info
    assert wrong not in event.tech_info and PASSWORD not in event.tech_info


async def test_a_duplicate_on_another_node_is_recorded_and_spares_the_source_budget(sqlite_pki):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    throttle = AuthenticationThrottle()
    other_nodes = OtherNodes({"CP_1": "node-a"})
    attempt = ConnectAttempt("/CP_1", basic("CP_1", PASSWORD), 2, remote_address="192.0.2.7:5555")
    assert (await pipeline(sqlite_pki, holder_elsewhere=other_nodes).admit(attempt)).station_id == "CP_1"
    assert other_nodes.asked == []

    refused = await arefusal(pipeline(sqlite_pki, throttle, replace_duplicate=False,
                                      holder_elsewhere=other_nodes).admit(attempt))
    assert (refused.status, refused.rule) == (HTTPStatus.CONFLICT, "connection.duplicate")
    [event] = events(sqlite_pki, "CP_1")
    assert event.type == DUPLICATE_CONNECTION and "node-a" in event.tech_info
    assert throttle.sources.tokens("192.0.2.7") == throttle.settings.source_burst


async def test_unknown_station_is_recorded_too(sqlite_pki):
    await arefusal(pipeline(sqlite_pki).admit(ConnectAttempt("/ocpp/NOPE", None, 2)))
    [event] = events(sqlite_pki, "NOPE")
    assert event.type == UNKNOWN_STATION


async def test_only_credential_failures_feed_the_throttle(sqlite_pki):
    register(sqlite_pki, "CP_1", 3)
    throttle = AuthenticationThrottle()
    admission = pipeline(sqlite_pki, throttle)
    await arefusal(admission.admit(ConnectAttempt("/CP_1", basic("CP_1", PASSWORD), 2)))  # wrong profile
    assert throttle.pairs.failures((None, "CP_1")) == 0
    await arefusal(admission.admit(ConnectAttempt("/CP_1", None, 3)))  # profile 3, no certificate
    assert throttle.pairs.failures((None, "CP_1")) == 1


async def test_new_password_wins_when_the_station_uses_it_first(sqlite_pki):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    update_station(sqlite_pki, "CP_1", pending_password_hash=hash_secret(NEW_PASSWORD))
    admission = pipeline(sqlite_pki)
    await admission.admit(ConnectAttempt("/CP_1", basic("CP_1", NEW_PASSWORD), 2))
    assert station_row(sqlite_pki, "CP_1").pending_password_hash is None
    await admission.admit(ConnectAttempt("/CP_1", basic("CP_1", NEW_PASSWORD), 2))
    await arefusal(admission.admit(ConnectAttempt("/CP_1", basic("CP_1", PASSWORD), 2)))


async def test_old_password_wins_when_the_station_uses_it_first(sqlite_pki):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    update_station(sqlite_pki, "CP_1", pending_password_hash=hash_secret(NEW_PASSWORD))
    admission = pipeline(sqlite_pki)
    await admission.admit(ConnectAttempt("/CP_1", basic("CP_1", PASSWORD), 2))
    assert station_row(sqlite_pki, "CP_1").pending_password_hash is None
    await arefusal(admission.admit(ConnectAttempt("/CP_1", basic("CP_1", NEW_PASSWORD), 2)))


async def test_a_password_change_started_meanwhile_is_left_pending(sqlite_pki):
    register(sqlite_pki, "CP_1", 2, PASSWORD)
    update_station(sqlite_pki, "CP_1", pending_password_hash=hash_secret(NEW_PASSWORD))
    store = DatabaseAdmissionStore(sqlite_pki.ctx.engine)
    station = store.station("CP_1")
    match = check_basic(station, "CP_1", basic("CP_1", PASSWORD))
    newer = hash_secret("Even-Newer-Password-77")
    update_station(sqlite_pki, "CP_1", pending_password_hash=newer)
    store.commit(Admitted("CP_1", 2, password=match))
    assert station_row(sqlite_pki, "CP_1").pending_password_hash == newer


async def test_first_connection_under_the_pending_profile_makes_it_permanent(sqlite_pki, tmp_path):  # A05.FR.07
    password = register(sqlite_pki, "CP_1", 2, PASSWORD)
    update_station(sqlite_pki, "CP_1", pending_security_profile=3)
    chain, _, serial = issue_client_certificate(sqlite_pki, "CP_1", tmp_path)
    admission = pipeline(sqlite_pki)
    await admission.admit(ConnectAttempt("/CP_1", basic("CP_1", password), 2))
    assert station_row(sqlite_pki, "CP_1").security_profile == 2  # still allowed before the upgrade
    admitted = await admission.admit(ConnectAttempt("/CP_1", None, 3, load(chain)))
    assert admitted.raises_profile and admitted.client_certificate.serial_number == int(serial, 16)
    row = station_row(sqlite_pki, "CP_1")
    assert (row.security_profile, row.pending_security_profile) == (3, None)
    refused = await arefusal(admission.admit(ConnectAttempt("/CP_1", basic("CP_1", password), 2)))
    assert refused.status == HTTPStatus.FORBIDDEN


async def test_a_newly_issued_certificate_becomes_active_when_used(sqlite_pki, tmp_path):
    register(sqlite_pki, "CP_3", 3)
    chain, _, serial = issue_client_certificate(sqlite_pki, "CP_3", tmp_path)
    await pipeline(sqlite_pki).admit(ConnectAttempt("/CP_3", None, 3, load(chain)))
    with session_scope(sqlite_pki.ctx.engine) as session:
        record = session.exec(select(IssuedCertificate).where(IssuedCertificate.serial_hex == serial)).one()
    assert record.status == CertStatus.ACTIVE


# --- aggregated refusal records (issue 9 items 4 and 25) -------------------------------------------


async def test_refusals_are_counted_into_one_row_per_source_and_rule_and_window(engine):
    from api.ocpp.admission.refusal_log import RefusalLog, RefusalLogSettings, RefusalRecord
    from storage.security_events import SecurityEvent

    clock = Clock()
    log = RefusalLog(DatabaseAdmissionStore(engine), RefusalLogSettings(window=60, rows_per_minute=2), clock)
    unknown = RefusalRecord(UNKNOWN_STATION, "station.unknown", "no station is registered", 404)

    def rows() -> list[SecurityEvent]:
        with session_scope(engine) as session:
            return list(session.exec(select(SecurityEvent).order_by(SecurityEvent.id)))

    assert log.note("192.0.2.1", "NOPE-1", unknown)       # the first of its pair: write it now
    await log.flush(new_only=True)
    for n in range(2, 6):
        assert not log.note("192.0.2.1", f"NOPE-{n}", unknown)
    await log.flush(new_only=True)
    assert [r.occurrences for r in rows()] == [1]          # the rest waits for the periodic flush
    await log.flush()
    [row] = rows()
    assert (row.occurrences, row.source_address, row.station_id) == (5, "192.0.2.1", None)
    assert row.last_seen_at >= row.occurred_at and "'NOPE-1', 'NOPE-2', 'NOPE-3', ..." in row.tech_info
    # Another address: its own row. A third one is over the rows budget (2 a minute): held, counted.
    log.note("192.0.2.2", "CP_1", unknown)
    log.note("192.0.2.3", "CP_1", unknown)
    await log.flush()
    assert [(r.source_address, r.station_id) for r in rows()] == [("192.0.2.1", None), ("192.0.2.2", "CP_1")]
    clock.now += 60                                         # the budget refills; the held row goes in
    await log.flush()
    assert [r.source_address for r in rows()] == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    # The window is over: the same pair starts a new row.
    assert log.note("192.0.2.1", "NOPE-9", unknown)
    await log.flush()
    assert [r.occurrences for r in rows() if r.source_address == "192.0.2.1"] == [5, 1]
    assert log.counts["station.unknown"] == 8


async def test_a_refusal_write_cut_short_by_a_stop_is_not_written_twice(engine):
    import asyncio
    import threading

    from api.ocpp.admission.refusal_log import RefusalLog, RefusalRecord
    from storage.security_events import SecurityEvent

    started, go_on = threading.Event(), threading.Event()

    class SlowStore(DatabaseAdmissionStore):
        def write_refusals(self, rows):
            started.set()
            go_on.wait(5)   # the listeners stop while this write is under way
            return super().write_refusals(rows)

    log = RefusalLog(SlowStore(engine))
    log.note("192.0.2.1", "NOPE", RefusalRecord(UNKNOWN_STATION, "station.unknown", "no station is registered", 404))
    flush = asyncio.create_task(log.flush(new_only=True))
    assert await asyncio.to_thread(started.wait, 5)
    flush.cancel()
    await asyncio.sleep(0.05)
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await flush
    log.note("192.0.2.1", "NOPE", RefusalRecord(UNKNOWN_STATION, "station.unknown", "no station is registered", 404))
    await log.flush()
    with session_scope(engine) as session:
        assert [e.occurrences for e in session.exec(select(SecurityEvent))] == [2]
