"""Typed policy data and the one type every check returns: a decision with its reason."""

from __future__ import annotations

from dataclasses import dataclass, field

# Key types the CA can generate (policy names; pki/keystore.py makes them).
KEY_SPECS = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096")
# RSA-2048 stays out: BSI TR-02102-1 asks for >= 3000 bits for keys in use beyond 2023, and a CA
# or server key lives for years.
_CA_KEY_SPECS = ("ec-p256", "ec-p384", "rsa-3072", "rsa-4096")
# OCPP 2.0.1 A00.FR.502: RSA keys of at least 2048 bits. Above OpenSSL's limit for RSA
# (OPENSSL_RSA_MAX_MODULUS_BITS) no verifier could check the signature at all.
RSA_MIN_BITS_FLOOR = 2048
RSA_MAX_BITS_CEILING = 16384
# The curves BSI TR-02102-1 finds suitable (cryptography's names, as CSR keys report them).
SUITABLE_EC_CURVES = ("secp256r1", "secp384r1", "secp521r1",
                      "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1")
# A period of time in a policy is at most a century: beyond, a retention cutoff or a
# certificate's notAfter leaves the dates Python, the database and X.509 can hold (10**30 days
# stopped every prune pass with an OverflowError, each pass, silently but for the log).
MAX_DAYS = 36_500
MAX_HOURS = MAX_DAYS * 24
MAX_MINUTES = MAX_HOURS * 60


def _at_most(section: str, policy: object, limit: int, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(policy, name) > limit:
            raise ValueError(f"[{section}].{name} must be at most {limit}")


@dataclass(frozen=True)
class Decision:
    """Outcome of a policy check. ``rule`` names the rule that refused, for logs and API errors."""

    allowed: bool
    rule: str = ""
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed

    @classmethod
    def allow(cls) -> "Decision":
        return cls(True)

    @classmethod
    def refuse(cls, rule: str, reason: str) -> "Decision":
        return cls(False, rule, reason)


@dataclass(frozen=True)
class TlsPolicy:
    min_version: str = "TLSv1.2"
    max_version: str = "TLSv1.3"
    tls12_ciphers: tuple[str, ...] = ()
    tls13_ciphersuites: tuple[str, ...] = ()
    session_tickets: int = 0


@dataclass(frozen=True)
class KeyPolicy:
    rsa_min_bits: int = 2048
    rsa_max_bits: int = 4096
    ec_curves: tuple[str, ...] = ("secp256r1", "secp384r1")
    ca_key: str = "ec-p256"
    server_ec_key: str = "ec-p256"
    server_rsa_key: str = "rsa-3072"

    def __post_init__(self) -> None:
        if not 0 < self.rsa_min_bits <= self.rsa_max_bits:
            raise ValueError("[keys]: rsa_min_bits must be positive and not above rsa_max_bits")
        if self.rsa_min_bits < RSA_MIN_BITS_FLOOR:
            raise ValueError(f"[keys].rsa_min_bits = {self.rsa_min_bits} is below {RSA_MIN_BITS_FLOOR} "
                             "(OCPP 2.0.1 A00.FR.502)")
        if self.rsa_max_bits > RSA_MAX_BITS_CEILING:
            raise ValueError(f"[keys].rsa_max_bits must be at most {RSA_MAX_BITS_CEILING} (OpenSSL's RSA limit)")
        unsuitable = [c for c in self.ec_curves if c not in SUITABLE_EC_CURVES]
        if unsuitable:
            raise ValueError(f"[keys].ec_curves: {', '.join(unsuitable)} not one of {', '.join(SUITABLE_EC_CURVES)}")
        for key, allowed in (("ca_key", _CA_KEY_SPECS),
                             ("server_ec_key", tuple(k for k in _CA_KEY_SPECS if k.startswith("ec-"))),
                             ("server_rsa_key", tuple(k for k in _CA_KEY_SPECS if k.startswith("rsa-")))):
            if getattr(self, key) not in allowed:
                raise ValueError(f"[keys].{key} = {getattr(self, key)!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True)
class CsrPolicy:
    max_chars: int = 5500
    require_o_match: bool = True
    refuse_key_reuse: bool = True
    requests_per_station_per_hour: int = 20

    def __post_init__(self) -> None:
        if self.requests_per_station_per_hour < 1:
            raise ValueError("[csr]: requests_per_station_per_hour must be at least 1")
        # SignCertificateRequest.csr is string[..5500]: a larger limit admits nothing more.
        if not 1 <= self.max_chars <= 5500:
            raise ValueError("[csr].max_chars must be 1 to 5500 (the SignCertificateRequest schema)")


@dataclass(frozen=True)
class ValidityPolicy:
    root_days: int = 7300
    sub_ca_days: int = 3650
    server_days: int = 90
    station_days: int = 365
    v2g_days: int = 90
    backdate_minutes: int = 5
    crl_hours: int = 24
    ocsp_minutes: int = 60

    def __post_init__(self) -> None:
        days = ("root_days", "sub_ca_days", "server_days", "station_days", "v2g_days")
        for name in (*days, "crl_hours", "ocsp_minutes"):
            if getattr(self, name) < 1:
                raise ValueError(f"[validity].{name} must be at least 1")
        if self.backdate_minutes < 0:
            raise ValueError("[validity].backdate_minutes must not be negative")
        _at_most("validity", self, MAX_DAYS, days)
        _at_most("validity", self, MAX_HOURS, ("crl_hours",))
        _at_most("validity", self, MAX_MINUTES, ("ocsp_minutes", "backdate_minutes"))


@dataclass(frozen=True)
class ChainPolicy:
    max_chars: int = 10000

    def __post_init__(self) -> None:
        # CertificateSignedRequest.certificateChain is string[..10000]: a larger limit would let
        # through a chain the schema check then refuses at every delivery attempt.
        if not 1 <= self.max_chars <= 10000:
            raise ValueError("[chain].max_chars must be 1 to 10000 (the CertificateSignedRequest schema)")


@dataclass(frozen=True)
class DeliveryPolicy:
    """Certificate delivery (CertificateSigned) and the renewal retries after a refusal."""

    max_attempts: int = 5
    backoff_seconds: int = 30
    # A superseded station certificate is revoked this long after its successor was first used
    # (the station connected with it); 0 = never.
    revoke_superseded_after_hours: int = 24

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.backoff_seconds < 0 or self.revoke_superseded_after_hours < 0:
            raise ValueError("[delivery]: max_attempts must be >= 1; backoff_seconds and "
                             "revoke_superseded_after_hours must not be negative")
        _at_most("delivery", self, MAX_HOURS, ("revoke_superseded_after_hours",))


@dataclass(frozen=True)
class RenewalPolicy:
    """Renewal of station certificates before they expire (TriggerMessage SignChargingStationCertificate)."""

    window_days: int = 30
    # Fleet-wide pace of scheduled and bulk renewals; 0 = no limit.
    max_per_minute: int = 60
    # A renewal that got no CSR, or whose certificate the station never used, counts as in flight
    # (is not started again) for this long.
    in_flight_hours: int = 24

    def __post_init__(self) -> None:
        if self.window_days < 0 or self.max_per_minute < 0 or self.in_flight_hours < 0:
            raise ValueError("[renewal]: window_days, max_per_minute and in_flight_hours must not be negative")
        _at_most("renewal", self, MAX_DAYS, ("window_days",))
        _at_most("renewal", self, MAX_HOURS, ("in_flight_hours",))


@dataclass(frozen=True)
class OutagePolicy:
    """What stations' messages get while the database is unavailable."""

    # SecurityEventNotifications acknowledged and kept in a local file until the database is back;
    # past this many, the station is answered InternalError and keeps its event itself.
    max_spooled_events: int = 10000
    # How often the kept events are tried while there are any.
    retry_seconds: int = 5
    # TransactionEvents answered before they were stored (journaled; api/csms/transactions/
    # write_behind.py) and not stored yet, at most: at a thousand a second, 100 s of an outage.
    # Past it, events wait to be stored before their answer, and an outage answers InternalError.
    max_journaled_events: int = 100000

    def __post_init__(self) -> None:
        if self.max_spooled_events < 0 or self.retry_seconds < 1 or self.max_journaled_events < 0:
            raise ValueError("[outage]: max_spooled_events and max_journaled_events must not be negative and "
                             "retry_seconds must be >= 1")


@dataclass(frozen=True)
class AdmissionPolicy:
    """Who may wait for admission, how failures are throttled and how refusals are recorded
    (api/ocpp/admission/filters.py, throttle.py, refusal_log.py, pending.py)."""

    replace_duplicate_connection: bool = True
    free_failures: int = 3
    failure_delay_seconds: float = 1.0
    max_failure_delay_seconds: float = 300.0
    max_verifications_per_identity: int = 2
    source_failure_burst: int = 20
    source_failures_per_minute: int = 30
    max_pending_connections: int = 2048
    max_pending_per_source: int = 256
    max_connections: int = 10000
    file_descriptor_reserve: int = 1024
    refusal_window_seconds: int = 300
    refusal_rows_per_minute: int = 60
    refusal_log_lines_per_minute: int = 60
    refusal_flush_seconds: float = 10.0
    tracked_sources: int = 10000

    def __post_init__(self) -> None:
        positive = ("max_verifications_per_identity", "source_failure_burst", "source_failures_per_minute",
                    "max_pending_connections", "max_pending_per_source", "max_connections",
                    "refusal_window_seconds", "refusal_rows_per_minute", "refusal_log_lines_per_minute",
                    "refusal_flush_seconds", "tracked_sources", "failure_delay_seconds")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"[admission].{name} must be greater than 0")
        if self.free_failures < 0 or self.file_descriptor_reserve < 0:
            raise ValueError("[admission]: free_failures and file_descriptor_reserve must not be negative")
        if self.max_failure_delay_seconds < self.failure_delay_seconds:
            raise ValueError("[admission].max_failure_delay_seconds must be >= failure_delay_seconds")
        if self.max_pending_per_source > self.max_pending_connections:
            raise ValueError("[admission].max_pending_per_source must be <= max_pending_connections")
        if self.max_pending_connections > self.max_connections:
            raise ValueError("[admission].max_pending_connections must be <= max_connections")


@dataclass(frozen=True)
class SecurityEventPolicy:
    """Retention of security events: older than retention_days, or beyond max_rows, are deleted."""

    retention_days: int = 365
    max_rows: int = 1_000_000
    prune_interval_minutes: int = 60

    def __post_init__(self) -> None:
        if self.retention_days < 1 or self.max_rows < 1 or self.prune_interval_minutes < 1:
            raise ValueError("[security_events]: retention_days, max_rows and prune_interval_minutes must be >= 1")
        _at_most("security_events", self, MAX_DAYS, ("retention_days",))


@dataclass(frozen=True)
class MeterValuePolicy:
    """Retention of meter values; on PostgreSQL, monthly partitions made ahead and dropped whole."""

    retention_days: int = 400
    partitions_ahead_months: int = 2
    maintenance_interval_minutes: int = 60

    def __post_init__(self) -> None:
        if self.retention_days < 1 or self.partitions_ahead_months < 1 or self.maintenance_interval_minutes < 1:
            raise ValueError("[meter_values]: retention_days, partitions_ahead_months and "
                             "maintenance_interval_minutes must be >= 1")
        _at_most("meter_values", self, MAX_DAYS, ("retention_days",))


@dataclass(frozen=True)
class MonitoringPolicy:
    """What stations' monitoring may make us keep (N02-N08): events per station (the oldest go
    first) and by age, monitors per station."""

    event_retention_days: int = 90
    events_per_station: int = 10000
    monitors_per_station: int = 1000
    prune_interval_minutes: int = 60

    def __post_init__(self) -> None:
        if min(self.event_retention_days, self.events_per_station, self.monitors_per_station,
               self.prune_interval_minutes) < 1:
            raise ValueError("[monitoring]: every figure must be at least 1")
        _at_most("monitoring", self, MAX_DAYS, ("event_retention_days",))


@dataclass(frozen=True)
class CustomerInformationPolicy:
    """Customer data reported by stations (N09/N10) is personal data: kept retention_days, at most
    parts_per_request parts (512 characters each) per request."""

    retention_days: int = 30
    parts_per_request: int = 1000
    prune_interval_minutes: int = 60

    def __post_init__(self) -> None:
        if min(self.retention_days, self.parts_per_request, self.prune_interval_minutes) < 1:
            raise ValueError("[customer_information]: every figure must be at least 1")
        _at_most("customer_information", self, MAX_DAYS, ("retention_days",))


@dataclass(frozen=True)
class MessageLogPolicy:
    """The per-station OCPP message log: whether frames are kept, for how long, and the bounds on
    what a station (or a writer falling behind) can make us keep."""

    enabled: bool = True
    retention_days: int = 14
    # The oldest frames beyond max_rows go at each prune, whatever their age.
    max_rows: int = 5_000_000
    prune_interval_minutes: int = 60
    # A frame longer than this (UTF-8 bytes, after redaction) is kept cut, flagged truncated.
    max_frame_bytes: int = 16384
    # Frames kept per station and UTC day; beyond, dropped and counted. Broken frames have a
    # smaller allowance of their own (a station can send nothing but garbage).
    max_frames_per_station_per_day: int = 200_000
    max_malformed_per_station_per_day: int = 1000
    # Frames waiting in memory for the writer; when it falls behind, new frames are dropped and
    # counted, and the station never waits.
    max_queued_frames: int = 50_000

    def __post_init__(self) -> None:
        if min(self.retention_days, self.max_rows, self.prune_interval_minutes, self.max_frame_bytes,
               self.max_frames_per_station_per_day, self.max_malformed_per_station_per_day,
               self.max_queued_frames) < 1:
            raise ValueError("[message_log]: every figure must be at least 1")
        _at_most("message_log", self, MAX_DAYS, ("retention_days",))


@dataclass(frozen=True)
class RestPolicy:
    """The REST listener: bearer-token guessing, slow clients and how many clients at once."""

    # Failed token authentications per source address (IPv6: per /64) before any wait; then the
    # wait doubles from auth_base_delay_seconds up to auth_max_delay_seconds. A source's record
    # is forgotten auth_forget_after_seconds after its last failure.
    auth_free_failures: int = 5
    auth_base_delay_seconds: int = 1
    auth_max_delay_seconds: int = 300
    auth_forget_after_seconds: int = 900
    auth_tracked_sources: int = 10000
    # Failures are audited as one entry per source and interval (count, first, last), at most
    # auth_audit_max_sources entries per interval; the other sources share one entry.
    auth_audit_interval_seconds: int = 60
    auth_audit_max_sources: int = 20
    # A request's head and body must arrive within this time, or the connection is closed (408).
    request_timeout_seconds: int = 5
    keep_alive_seconds: int = 5
    # Connections and requests at once; beyond, uvicorn answers 503. Pending accepts: backlog.
    max_concurrency: int = 256
    backlog: int = 256
    # Requests worked on at once (the rest wait their turn); a request waiting for a station's
    # answer or for its client does not count (api/core/work_slots.py).
    max_active_requests: int = 4
    # Lines of uvicorn's access log (and of requests it could not parse) a minute at most: any
    # client, unauthenticated, causes one per request (api/rest/access_log.py).
    access_log_lines_per_minute: int = 600

    def __post_init__(self) -> None:
        if (self.auth_free_failures < 0 or self.auth_base_delay_seconds < 1
                or self.auth_max_delay_seconds < self.auth_base_delay_seconds):
            raise ValueError("[rest]: auth_free_failures >= 0 and 1 <= auth_base_delay_seconds <= "
                             "auth_max_delay_seconds")
        if min(self.auth_forget_after_seconds, self.auth_tracked_sources, self.auth_audit_interval_seconds,
               self.auth_audit_max_sources, self.request_timeout_seconds, self.keep_alive_seconds,
               self.max_concurrency, self.backlog, self.max_active_requests, self.access_log_lines_per_minute) < 1:
            raise ValueError("[rest]: every figure other than auth_free_failures must be at least 1")


@dataclass(frozen=True)
class SessionsPolicy:
    """Closing live connections when a change calls for it (certificate revoked, station
    disabled, deleted or moved to another profile)."""

    # How often a gateway looks for such changes made by another process (the CLI, another
    # node); changes made in the gateway's own process are acted on at once.
    disconnect_poll_seconds: float = 1.0
    # How long a stored disconnect request is kept (for the nodes' polls) before it is pruned.
    disconnect_keep_hours: int = 24

    def __post_init__(self) -> None:
        if not 0.05 <= self.disconnect_poll_seconds <= 60 or self.disconnect_keep_hours < 1:
            raise ValueError("[sessions]: disconnect_poll_seconds must be 0.05 to 60, disconnect_keep_hours >= 1")
        _at_most("sessions", self, MAX_HOURS, ("disconnect_keep_hours",))


@dataclass(frozen=True)
class FileTransferPolicy:
    """The file service stations download from and upload to (api/csms/file_transfer)."""

    https_enabled: bool = True
    # FTP sends credentials and files in clear text: off unless a fleet needs it (the development
    # first run turns it on in its policy file).
    ftp_enabled: bool = False
    # Connections at once per protocol; beyond, new ones are closed. Of them, at most
    # max_connections_per_source from one address (a depot's stations behind one address share it).
    max_connections: int = 200
    max_connections_per_source: int = 50
    # A connection that sends or receives nothing for this long is closed.
    idle_timeout_seconds: int = 60
    # HTTPS: the TLS handshake, and each request's head, within this; FTP: the login. Else closed
    # (api/csms/file_transfer/limits.py: a client without credentials held a slot for good).
    login_timeout_seconds: int = 10
    # Expired grants (and their FTP homes) are deleted this long after they expired.
    keep_expired_grants_days: int = 7
    prune_interval_minutes: int = 60
    # All transfers of a file service together move at most this many MB per second (0: no cap),
    # so that a fleet's uploads leave the cores to OCPP; what it costs a station, and how the
    # default was chosen: api/csms/file_transfer/pace.py, README "Logs (N01)".
    max_megabytes_per_second: int = 20

    def __post_init__(self) -> None:
        if min(self.max_connections, self.max_connections_per_source, self.idle_timeout_seconds,
               self.login_timeout_seconds, self.keep_expired_grants_days, self.prune_interval_minutes) < 1:
            raise ValueError("[file_transfer]: every figure must be at least 1")
        if self.max_megabytes_per_second < 0:
            raise ValueError("[file_transfer]: max_megabytes_per_second must be 0 (no cap) or more")
        _at_most("file_transfer", self, MAX_DAYS, ("keep_expired_grants_days",))


@dataclass(frozen=True)
class LogPolicy:
    """GetLog (N01): where stations upload logs, how much, and how long we keep them."""

    # Which protocol the upload URL uses: "https" or "ftp" (a station's own choice overrides it,
    # see policies/logs.py).
    protocol: str = "https"
    max_bytes: int = 50 * 1024 * 1024
    # How long the one-time upload credentials last.
    upload_minutes: int = 60
    # Log files and their requests are deleted this long after they arrived.
    retention_days: int = 90
    # At most this many log files per station; the oldest go first.
    max_files_per_station: int = 100

    def __post_init__(self) -> None:
        if self.protocol not in ("https", "ftp"):
            raise ValueError("[logs]: protocol must be \"https\" or \"ftp\"")
        if min(self.max_bytes, self.upload_minutes, self.retention_days, self.max_files_per_station) < 1:
            raise ValueError("[logs]: max_bytes, upload_minutes, retention_days and max_files_per_station must be >= 1")
        _at_most("logs", self, MAX_DAYS, ("retention_days",))


@dataclass(frozen=True)
class FirmwarePolicy:
    """Firmware (L01): how large an image may be, how long a download location lives, how many
    statuses a station's history keeps, how fast a campaign may go."""

    max_image_mb: int = 256
    download_minutes: int = 60
    campaign_max_per_minute: int = 600
    campaign_interval_seconds: float = 5.0
    # A campaign's station that reports no final status (Installed or a failure) this long after
    # its UpdateFirmware (or its install time) counts as failed; a campaign may set its own.
    campaign_final_status_minutes: int = 240

    def __post_init__(self) -> None:
        if min(self.max_image_mb, self.download_minutes, self.campaign_max_per_minute,
               self.campaign_final_status_minutes) < 1 \
                or not 0.1 <= self.campaign_interval_seconds <= 600:
            raise ValueError("[firmware]: max_image_mb, download_minutes, campaign_max_per_minute and "
                             "campaign_final_status_minutes must be >= 1, "
                             "campaign_interval_seconds 0.1 to 600")


@dataclass(frozen=True)
class DeviceModelPolicy:
    """What a station's reports may make us store (block B)."""

    # Variables kept per station; a report beyond is stored up to it, the rest refused by name.
    max_variables_per_station: int = 20000
    # NotifyReport parts recorded per report request, and report requests kept per station.
    max_parts_per_report: int = 2000
    max_reports_per_station: int = 50

    def __post_init__(self) -> None:
        if min(self.max_variables_per_station, self.max_parts_per_report, self.max_reports_per_station) < 1:
            raise ValueError("[device_model]: every figure must be at least 1")


@dataclass(frozen=True)
class OnboardingPolicy:
    """A station's first BootNotification answered Pending until ChargeCA has its FullInventory
    and has set the baseline variables (B01-B03 with B07 and B05)."""

    enabled: bool = False
    # Component.Variable=value, set once the inventory is in. HeartbeatInterval and any integer
    # are clamped within the limits the station reported for them.
    baseline: tuple[str, ...] = ("OCPPCommCtrlr.HeartbeatInterval=300", "OCPPCommCtrlr.OfflineThreshold=600",
                                 "ClockCtrlr.TimeSource=Heartbeat")
    # How long to wait for the whole inventory before giving up (the station stays Pending and
    # onboarding starts again at its next boot).
    report_timeout_seconds: int = 120

    def __post_init__(self) -> None:
        for entry in self.baseline:
            name, _, _value = entry.partition("=")
            component, _, variable = name.partition(".")
            if "=" not in entry or not component or not variable:
                raise ValueError(f"[onboarding].baseline: {entry!r} is not Component.Variable=value")
        if self.report_timeout_seconds < 1:
            raise ValueError("[onboarding].report_timeout_seconds must be at least 1")


@dataclass(frozen=True)
class Policy:
    tls: TlsPolicy = field(default_factory=TlsPolicy)
    keys: KeyPolicy = field(default_factory=KeyPolicy)
    csr: CsrPolicy = field(default_factory=CsrPolicy)
    validity: ValidityPolicy = field(default_factory=ValidityPolicy)
    chain: ChainPolicy = field(default_factory=ChainPolicy)
    admission: AdmissionPolicy = field(default_factory=AdmissionPolicy)
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    renewal: RenewalPolicy = field(default_factory=RenewalPolicy)
    outage: OutagePolicy = field(default_factory=OutagePolicy)
    rest: RestPolicy = field(default_factory=RestPolicy)
    security_events: SecurityEventPolicy = field(default_factory=SecurityEventPolicy)
    meter_values: MeterValuePolicy = field(default_factory=MeterValuePolicy)
    monitoring: MonitoringPolicy = field(default_factory=MonitoringPolicy)
    customer_information: CustomerInformationPolicy = field(default_factory=CustomerInformationPolicy)
    sessions: SessionsPolicy = field(default_factory=SessionsPolicy)
    file_transfer: FileTransferPolicy = field(default_factory=FileTransferPolicy)
    logs: LogPolicy = field(default_factory=LogPolicy)
    firmware: FirmwarePolicy = field(default_factory=FirmwarePolicy)
    device_model: DeviceModelPolicy = field(default_factory=DeviceModelPolicy)
    onboarding: OnboardingPolicy = field(default_factory=OnboardingPolicy)
    message_log: MessageLogPolicy = field(default_factory=MessageLogPolicy)
