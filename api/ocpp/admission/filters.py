"""Who may open an OCPP WebSocket: an ordered list of small filters run before the upgrade.

Each filter looks at the connect attempt and what earlier filters found (``Candidate``), and
either lets it through (possibly noting something) or raises ``Refused`` with the HTTP status to
answer instead of ``101 Switching Protocols``. ``default_filters`` gives the order:

  source address within its refusal budget → identity in the URL → known, enabled station →
  not throttled → profile expected → credentials (Basic for profiles 1/2, client certificate
  for 3) → duplicate connection → (cluster mode) duplicate on another node.

The source budget comes first so that a flooding address (unknown identities included) costs
no database lookup. Credentials come before the duplicate check on purpose: only an
authenticated connection may displace (or be refused for) an existing one. The throttle comes
before credentials so that a throttled (source, identity) costs no password hash, and the
password check itself is gated (api/ocpp/admission/throttle.py): counted before argon2 runs.

``Admission.admit`` runs the filters, counts every refusal into the aggregated refusal log
(api/ocpp/admission/refusal_log.py: bounded rows and log lines), and commits what a successful connect
decides (A05 profile raise, A01 password switch, certificate in use).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from http import HTTPStatus
from typing import Protocol
from urllib.parse import unquote

from cryptography import x509

from api.core.credentials import RecentVerifications, verify_secret
from api.core.refusal import Refusal
from api.ocpp.admission.client_certificates import (
    CertificateRefused,
    VerifiedStationCertificate,
    verify_station_certificate,
)
from api.ocpp.admission.refusal_log import RefusalLog, RefusalRecord
from api.ocpp.admission.throttle import AuthenticationThrottle, Throttled, retry_after_header
from api.ocpp.transport.registry import ConnectionRegistry
from policies.names import IDENTITY_MAX, check_station_identity
from storage.certificates import CertStatus
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.admission")


# SecurityEvent.type values the CSMS raises (source "csms"). The first two reuse the names
# OCPP's security-event list gives the same situations on the station side.
FAILED_AUTHENTICATION = "FailedToAuthenticateAtCsms"
INVALID_STATION_CERTIFICATE = "InvalidChargingStationCertificate"
INVALID_IDENTITY = "InvalidChargingStationIdentity"
UNKNOWN_STATION = "UnknownChargingStation"
STATION_DISABLED = "ChargingStationDisabled"
SECURITY_PROFILE_MISMATCH = "SecurityProfileMismatch"
AUTHENTICATION_THROTTLED = "AuthenticationThrottled"
DUPLICATE_CONNECTION = "DuplicateConnectionRefused"

BASIC_CHALLENGE = 'Basic realm="OCPP", charset="UTF-8"'


class Refused(Refusal):
    """Answer ``status`` instead of upgrading (the handshake's door: the rule becomes a status).

    ``reason`` goes to the security event and the log, never a secret. ``public`` is the body
    sent to the client: for credential failures it says less than ``reason``.
    ``counts_as_failure``: a credential failure that feeds the (source, identity) back-off.
    ``counts_for_source``: takes from the source address's refusal budget (all but throttling
    and duplicates). ``counted``: the throttle already counted it (the gated password check).
    """

    def __init__(self, status: HTTPStatus, event_type: str, rule: str, reason: str, *,
                 public: str | None = None, headers: Mapping[str, str] | None = None,
                 counts_as_failure: bool = False, critical: bool = False,
                 counts_for_source: bool = True) -> None:
        super().__init__(rule, reason)
        self.status = status
        self.event_type = event_type
        self.public = public or reason
        self.headers = dict(headers or {})
        self.counts_as_failure = counts_as_failure
        self.counts_for_source = counts_for_source
        self.counted = False
        self.critical = critical

    @property
    def summary(self) -> RefusalRecord:
        return RefusalRecord(self.event_type, self.rule, self.reason, int(self.status), self.critical)


@dataclass(frozen=True)
class ConnectAttempt:
    """What the listener knows of a connection before the upgrade.

    ``transport_profile`` is what the transport itself proves: 1 on ws, 2 on wss, 3 on wss with
    a client certificate (which OpenSSL has already chained to one of our CAs).
    """

    path: str
    authorization: str | None
    transport_profile: int
    client_certificate: x509.Certificate | None = None
    remote_address: str | None = None

    @property
    def source(self) -> str | None:
        """The source address without the port: what throttling and aggregation are keyed on."""
        return source_of(self.remote_address)


def source_of(remote_address: str | None) -> str | None:
    return remote_address.rsplit(":", 1)[0] if remote_address else None


@dataclass(frozen=True)
class StationView:
    """The admission-relevant columns of a station row, as read at connect time."""

    id: str
    security_profile: int
    pending_security_profile: int | None = None
    password_hash: str | None = None
    pending_password_hash: str | None = None
    enabled: bool = True


CURRENT, PENDING = "current", "pending"


@dataclass(frozen=True)
class PasswordMatch:
    """Which stored password the station used, and the hashes seen, so that the commit only
    changes rows nobody else changed meanwhile (A01: the first success decides)."""

    matched: str                      # CURRENT or PENDING
    password_hash: str | None
    pending_password_hash: str | None


@dataclass(frozen=True)
class CertificateMatch:
    verified: VerifiedStationCertificate
    record_id: int
    status: str


@dataclass(frozen=True)
class CertificateRecord:
    id: int
    status: str


@dataclass
class Candidate:
    attempt: ConnectAttempt
    identity: str = ""
    station: StationView | None = None
    password: PasswordMatch | None = None
    certificate: CertificateMatch | None = None


@dataclass(frozen=True)
class Admitted:
    station_id: str
    security_profile: int
    # First connect under the pending (upgraded) profile: it becomes the only one (A05.FR.07).
    raises_profile: bool = False
    password: PasswordMatch | None = None
    certificate: CertificateMatch | None = None
    admitted_at: datetime = field(default_factory=utcnow)

    @property
    def client_certificate(self) -> x509.Certificate | None:
        return self.certificate.verified.certificate if self.certificate else None

    @property
    def settles_anything(self) -> bool:
        """Whether this connect decides something the store must write (most connects do not)."""
        return (self.raises_profile
                or (self.password is not None and self.password.pending_password_hash is not None)
                or (self.certificate is not None and self.certificate.status == CertStatus.ISSUED))


class Filter(Protocol):
    async def __call__(self, candidate: Candidate) -> None: ...


# --- the filters ------------------------------------------------------------------------------


def parse_identity(path: str) -> str:
    """The station identity: the last path segment, percent-decoded (P4 §3.1.1).

    ``/CP_1`` and ``/ocpp/CP_1`` both name CP_1; a query string is ignored.
    """
    # No trailing-slash tolerance: "/ocpp/" must not be read as a station called "ocpp".
    segment = path.split("?", 1)[0].rsplit("/", 1)[-1]
    try:
        identity = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise Refused(HTTPStatus.BAD_REQUEST, INVALID_IDENTITY, "identity.encoding",
                      "station identity in the URL is not valid percent-encoded UTF-8") from None
    if not identity:
        raise Refused(HTTPStatus.BAD_REQUEST, INVALID_IDENTITY, "identity.missing",
                      "no station identity in the URL path (expected .../<identity>)")
    # Registration applies the same rule (api/operations/stations.add_station).
    decision = check_station_identity(identity)
    if not decision:
        raise Refused(HTTPStatus.BAD_REQUEST, INVALID_IDENTITY, decision.rule, decision.reason)
    return identity


class IdentityFromPath:
    async def __call__(self, candidate: Candidate) -> None:
        candidate.identity = parse_identity(candidate.attempt.path)


class KnownStation:
    """Unknown identity → 404 (P4 §3.2); a disabled station → 403.

    ``lookup`` blocks (it runs on a worker thread); ``find``, when given, is the same lookup for
    the event loop (batched, see admission_store.py) and is used instead."""

    def __init__(self, lookup: Callable[[str], StationView | None],
                 find: Callable[[str], Awaitable[StationView | None]] | None = None) -> None:
        self._lookup = lookup
        self._find = find

    async def __call__(self, candidate: Candidate) -> None:
        if self._find is not None:
            station = await self._find(candidate.identity)
        else:
            station = await asyncio.to_thread(self._lookup, candidate.identity)
        if station is None:
            raise Refused(HTTPStatus.NOT_FOUND, UNKNOWN_STATION, "station.unknown",
                          f"no station {candidate.identity!r} is registered")
        if not station.enabled:
            raise Refused(HTTPStatus.FORBIDDEN, STATION_DISABLED, "station.disabled",
                          f"station {candidate.identity!r} is disabled")
        candidate.station = station


def throttled(limit: Throttled) -> Refused:
    if limit.scope == "source":
        rule, reason = "source.throttled", "too many refused connections from this address"
    elif limit.scope == "busy":
        rule, reason = "auth.busy", "this station's password checks are all in use and this address failed before"
    else:
        rule, reason = "auth.throttled", f"{limit.failures} failed authentications in a row from this address"
    return Refused(HTTPStatus.TOO_MANY_REQUESTS, AUTHENTICATION_THROTTLED, rule,
                   f"{reason}; next attempt allowed in {limit.wait:.0f} s",
                   public="too many failed attempts; retry later",
                   headers={"Retry-After": retry_after_header(limit.wait)}, counts_for_source=False)


class SourceAllowed:
    """A source address that keeps getting refused waits, before anything is looked up."""

    def __init__(self, throttle: AuthenticationThrottle) -> None:
        self._throttle = throttle

    async def __call__(self, candidate: Candidate) -> None:
        try:
            self._throttle.check_source(candidate.attempt.source)
        except Throttled as limit:
            raise throttled(limit) from None


class NotThrottled:
    """Failed credentials of this identity from this source address: back off (429)."""

    def __init__(self, throttle: AuthenticationThrottle) -> None:
        self._throttle = throttle

    async def __call__(self, candidate: Candidate) -> None:
        try:
            self._throttle.check_pair(candidate.attempt.source, candidate.identity)
        except Throttled as limit:
            raise throttled(limit) from None


def check_profile(station: StationView, transport_profile: int) -> bool:
    """A00.FR.002: only the station's profile, or the one it is being upgraded to (A05).
    Returns True when the connection uses the pending profile."""
    if transport_profile == station.security_profile:
        return False
    if transport_profile == station.pending_security_profile:
        return True
    expected = f"profile {station.security_profile}"
    if station.pending_security_profile is not None:
        expected += f" or {station.pending_security_profile}"
    how = {1: "ws:// with Basic auth", 2: "wss:// with Basic auth", 3: "wss:// with a client certificate"}
    raise Refused(HTTPStatus.FORBIDDEN, SECURITY_PROFILE_MISMATCH, "profile.mismatch",
                  f"connected with security profile {transport_profile} ({how[transport_profile]}); "
                  f"station {station.id!r} must use {expected}")


class ExpectedProfile:
    async def __call__(self, candidate: Candidate) -> None:
        assert candidate.station is not None
        check_profile(candidate.station, candidate.attempt.transport_profile)


def _auth_refused(rule: str, reason: str) -> Refused:
    return Refused(HTTPStatus.UNAUTHORIZED, FAILED_AUTHENTICATION, rule, reason,
                   public="invalid or missing HTTP Basic credentials",
                   headers={"WWW-Authenticate": BASIC_CHALLENGE}, counts_as_failure=True)


def parse_basic(authorization: str | None) -> tuple[str, str]:
    """(username, password) from an ``Authorization: Basic`` header (RFC 7617, UTF-8)."""
    if not authorization:
        raise _auth_refused("auth.missing", "no Authorization header; profiles 1 and 2 need HTTP Basic credentials")
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise _auth_refused("auth.scheme", f"Authorization scheme {scheme[:20]!r} is not Basic")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _auth_refused("auth.malformed", "Authorization header is not base64 of UTF-8 'user:password'") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise _auth_refused("auth.malformed", "Authorization credentials lack the ':' between user and password")
    return username, password


def basic_password(station: StationView, identity: str, authorization: str | None) -> str:
    """The password offered, once the header is well-formed, names this station, and the
    station has a password to check against: everything but the hash, which is cheap."""
    username, password = parse_basic(authorization)
    if username != identity:
        raise _auth_refused("auth.username",
                            f"Basic username {username[:IDENTITY_MAX]!r} is not the station identity {identity!r}")
    if not station.password_hash and not station.pending_password_hash:
        raise _auth_refused("auth.no_password", f"station {identity!r} has no Basic-auth password set")
    return password


def check_basic(station: StationView, identity: str, authorization: str | None,
                verify: Callable[[str | None, str], bool] = verify_secret) -> PasswordMatch:
    """A00.FR.204/205: username = identity; password = the stored one, or the one being set
    (A01) while the station's answer is unknown. Blocking (argon2): run in a thread."""
    return match_password(station, basic_password(station, identity, authorization), verify)


def match_password(station: StationView, password: str,
                   verify: Callable[[str | None, str], bool] = verify_secret) -> PasswordMatch:
    seen = dict(password_hash=station.password_hash, pending_password_hash=station.pending_password_hash)
    if verify(station.password_hash, password):
        return PasswordMatch(CURRENT, **seen)
    if verify(station.pending_password_hash, password):
        return PasswordMatch(PENDING, **seen)
    raise _auth_refused("auth.password", "wrong password")


class BasicCredentials:
    """Profiles 1 and 2.

    With ``recent`` (api/core/credentials.py), a password that verified against the same stored hash
    a short while ago is accepted on the event loop without argon2 or a thread hop; anything
    else (unknown, wrong, rotated) takes the full check on a worker thread, which decides
    exactly as without the cache and remembers a success. With ``throttle``, the full check
    passes its gate first (counted before argon2 runs; see api/ocpp/admission/throttle.py)."""

    def __init__(self, verify: Callable[[str | None, str], bool] = verify_secret,
                 recent: RecentVerifications | None = None, throttle: AuthenticationThrottle | None = None) -> None:
        self._verify = verify
        self._recent = recent
        self._throttle = throttle

    async def __call__(self, candidate: Candidate) -> None:
        if candidate.attempt.transport_profile not in (1, 2):
            return
        station, identity = candidate.station, candidate.identity
        assert station is not None
        password = basic_password(station, identity, candidate.attempt.authorization)
        verify = self._verify
        if self._recent is not None:
            try:
                candidate.password = match_password(station, password, partial(self._recent.known, identity))
                return
            except Refused:
                pass  # not remembered: the full check below gives the exact answer
            verify = partial(self._recent.verify, identity, verify=self._verify)
        if self._throttle is None:
            candidate.password = await asyncio.to_thread(match_password, station, password, verify)
            return
        try:
            async with self._throttle.verifying(candidate.attempt.source, identity) as verification:
                try:
                    candidate.password = await asyncio.to_thread(match_password, station, password, verify)
                except Refused as refusal:
                    refusal.counted = True
                    raise
                verification.succeeded()
        except Throttled as limit:
            raise throttled(limit) from None


def _certificate_refused(rule: str, reason: str, *, critical: bool = False) -> Refused:
    return Refused(HTTPStatus.FORBIDDEN, INVALID_STATION_CERTIFICATE, rule, reason,
                   public="client certificate refused", counts_as_failure=True, critical=critical)


class ClientCertificate:
    """Profile 3: A00.FR.403–405 and revocation (A00.FR.407: refuse; .408: record)."""

    def __init__(self, anchors: Callable[[], Mapping[str, x509.Certificate]], organization: Callable[[], str],
                 certificate_record: Callable[[str, str], CertificateRecord | None],
                 clock: Callable[[], datetime] = utcnow, *,
                 find_record: Callable[[tuple[str, str]], Awaitable[CertificateRecord | None]] | None = None) -> None:
        self._anchors = anchors
        self._organization = organization
        self._record = certificate_record
        self._find_record = find_record   # the record lookup for the event loop (batched), if any
        self._clock = clock

    def check(self, identity: str, certificate: x509.Certificate | None) -> CertificateMatch:
        """The whole check, blocking (the record lookup reads the database)."""
        verified = self.verify(identity, certificate)
        return self.decide(verified, self._record(verified.issuer_ca_id, verified.serial_hex))

    def verify(self, identity: str, certificate: x509.Certificate | None) -> VerifiedStationCertificate:
        """Chain, validity, O and CN: pure CPU (~0.1 ms), no database."""
        if certificate is None:
            raise _certificate_refused("sp3.missing", "profile 3 needs a TLS client certificate")
        try:
            return verify_station_certificate(certificate, identity=identity, organization=self._organization(),
                                              anchors=self._anchors(), now=self._clock())
        except CertificateRefused as exc:
            raise _certificate_refused(exc.rule, exc.reason) from None

    @staticmethod
    def decide(verified: VerifiedStationCertificate, record: CertificateRecord | None) -> CertificateMatch:
        """Refuse what the CA's records say must not get in (unrecorded, revoked)."""
        if record is None:
            # Signed by our CA key yet not in our records: a key compromise is the likeliest cause.
            raise _certificate_refused("sp3.unrecorded",
                                       f"client certificate {verified.serial_hex} is not in the CA's records",
                                       critical=True)
        if record.status == CertStatus.REVOKED:
            raise _certificate_refused("sp3.revoked", f"client certificate {verified.serial_hex} is revoked",
                                       critical=True)
        return CertificateMatch(verified, record.id, record.status)

    async def __call__(self, candidate: Candidate) -> None:
        if candidate.attempt.transport_profile != 3:
            return
        if self._find_record is None:
            candidate.certificate = await asyncio.to_thread(
                self.check, candidate.identity, candidate.attempt.client_certificate)
            return
        # Verified on the loop: cheaper than the thread hop it would take, and the organization
        # is cached by the store.
        verified = self.verify(candidate.identity, candidate.attempt.client_certificate)
        candidate.certificate = self.decide(verified, await self._find_record((verified.issuer_ca_id,
                                                                                verified.serial_hex)))


def _duplicate(identity: str, where: str = "") -> Refused:
    # The station is told the same wherever its other connection is: which node holds it is the
    # operator's business (the reason, logged and recorded), not the client's.
    public = f"station {identity!r} is already connected"
    return Refused(HTTPStatus.CONFLICT, DUPLICATE_CONNECTION, "connection.duplicate", public + where,
                   public=public, counts_for_source=False)


class DuplicateConnection:
    """A second live connection of one station: replace the first (default) or refuse this one."""

    def __init__(self, registry: ConnectionRegistry, replace: bool) -> None:
        self._registry = registry
        self._replace = replace

    async def __call__(self, candidate: Candidate) -> None:
        if not self._replace and candidate.identity in self._registry:
            raise _duplicate(candidate.identity)


# The other node of the cluster that holds the station now (its lease runs), or None.
HolderElsewhere = Callable[[str], Awaitable[str | None]]


class DuplicateOnAnotherNode:
    """The same rule across a cluster: refuse this connection while another node holds the station.

    With ``replace`` nothing is read: the newer connection wins, and the old node lets go when it
    hears of the claim (api/cluster/holding.py). A holder whose lease ran out (its node died) does
    not count, so a station never waits for a dead node. One held here is DuplicateConnection's."""

    def __init__(self, holder_elsewhere: HolderElsewhere, replace: bool) -> None:
        self._holder_elsewhere = holder_elsewhere
        self._replace = replace

    async def __call__(self, candidate: Candidate) -> None:
        if self._replace:
            return
        node = await self._holder_elsewhere(candidate.identity)
        if node is not None:
            raise _duplicate(candidate.identity, f" to node {node!r}")


# --- running them -----------------------------------------------------------------------------


class AdmissionStore(Protocol):
    """The database side of admission (api/ocpp/admission/store.py). Blocking methods, except the
    ``find_*`` lookups, which serve the event loop."""

    def station(self, identity: str) -> StationView | None: ...
    async def find_station(self, identity: str) -> StationView | None: ...
    async def find_certificate_record(self, key: tuple[str, str]) -> CertificateRecord | None: ...
    def organization(self) -> str: ...
    def certificate_record(self, ca_id: str, serial_hex: str) -> CertificateRecord | None: ...
    def write_refusals(self, rows) -> list[int]: ...
    def commit(self, admitted: Admitted) -> None: ...


def default_filters(store: AdmissionStore, *, throttle: AuthenticationThrottle, registry: ConnectionRegistry,
                    replace_duplicate: bool,
                    anchors: Callable[[], Mapping[str, x509.Certificate]],
                    holder_elsewhere: HolderElsewhere | None = None) -> list[Filter]:
    """``holder_elsewhere``: cluster mode (api/cluster/holding.py); None on one node."""
    filters: list[Filter] = [
        SourceAllowed(throttle),
        IdentityFromPath(),
        KnownStation(store.station, store.find_station),
        NotThrottled(throttle),
        ExpectedProfile(),
        BasicCredentials(recent=RecentVerifications(), throttle=throttle),
        ClientCertificate(anchors, store.organization, store.certificate_record,
                          find_record=store.find_certificate_record),
        DuplicateConnection(registry, replace_duplicate),
    ]
    if holder_elsewhere is not None:
        filters.append(DuplicateOnAnotherNode(holder_elsewhere, replace_duplicate))
    return filters


class Admission:
    def __init__(self, filters: Sequence[Filter], store: AdmissionStore, throttle: AuthenticationThrottle,
                 refusals: RefusalLog | None = None) -> None:
        self.filters = list(filters)
        self._store = store
        self.throttle = throttle
        self.refusals = refusals if refusals is not None else RefusalLog(store)

    async def admit(self, attempt: ConnectAttempt) -> Admitted:
        """Run the filters; on refusal count it (throttle, refusal log) and raise ``Refused``."""
        candidate = Candidate(attempt)
        try:
            for check in self.filters:
                await check(candidate)
        except Refused as refusal:
            if refusal.counts_for_source and not refusal.counted:
                self.throttle.failed(attempt.source, candidate.identity or None,
                                     credentials=refusal.counts_as_failure)
            await self.record(attempt.source, candidate.identity or None, refusal.summary)
            raise
        station = candidate.station
        assert station is not None
        admitted = Admitted(
            station_id=candidate.identity,
            security_profile=attempt.transport_profile,
            raises_profile=(attempt.transport_profile == station.pending_security_profile
                            != station.security_profile),
            password=candidate.password,
            certificate=candidate.certificate,
        )
        if admitted.settles_anything:  # no thread hop for the common connect that changes nothing
            await asyncio.to_thread(self._store.commit, admitted)
        self.throttle.succeeded(attempt.source, candidate.identity)
        return admitted

    async def record(self, source: str | None, identity: str | None, refusal: RefusalRecord) -> None:
        """Count a refusal; the first of its (source, rule) is written before the answer leaves."""
        if not self.refusals.note(source, identity, refusal):
            return
        try:
            await self.refusals.flush(new_only=True)
        except Exception:  # noqa: BLE001 - the station still gets its refusal, not a 5xx
            log.exception("could not record the refusal of %r (%s)", identity, refusal.rule)
