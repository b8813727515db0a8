"""Typed policy data and the one type every check returns: a decision with its reason."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    ec_curves: tuple[str, ...] = ("secp256r1", "secp384r1")
    ca_key: str = "ec-p256"
    server_ec_key: str = "ec-p256"
    server_rsa_key: str = "rsa-3072"


@dataclass(frozen=True)
class CsrPolicy:
    max_chars: int = 5500
    require_o_match: bool = True
    refuse_key_reuse: bool = True


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


@dataclass(frozen=True)
class ChainPolicy:
    max_chars: int = 10000


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


@dataclass(frozen=True)
class AdmissionPolicy:
    replace_duplicate_connection: bool = True


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
    sessions: SessionsPolicy = field(default_factory=SessionsPolicy)
