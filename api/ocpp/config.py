"""Gateway knobs, with defaults that suit a production CSMS and CHARGECA_OCPP_* overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass

from api.ocpp.boot import BOOT_STATUSES


@dataclass(frozen=True)
class GatewayConfig:
    # BootNotification answer for stations without a policy of their own (Station.boot_policy).
    default_boot_status: str = "Accepted"
    # BootNotificationResponse.interval: the heartbeat interval once Accepted ...
    heartbeat_interval: int = 300
    # ... and the wait before the next BootNotification while Pending or Rejected (B02/B03).
    boot_retry_interval: int = 60
    # How long a CSMS-initiated call waits (queue + answer) unless the caller says otherwise;
    # P4 leaves the value to us and the schema suggests 30 s for the station side.
    call_timeout: float = 30.0
    # Upper bound an operator may ask for, so a REST request cannot hold a slot for hours.
    max_call_timeout: float = 300.0
    # Station CALLs waiting for their handler. P4 allows one outstanding CALL per direction;
    # this tolerates stations that pipeline a few StatusNotifications, and bounds the rest.
    max_pending_station_calls: int = 16

    def __post_init__(self) -> None:
        if self.default_boot_status not in BOOT_STATUSES:
            raise ValueError(f"default boot status must be one of {', '.join(BOOT_STATUSES)}")
        if self.call_timeout <= 0 or self.heartbeat_interval < 0 or self.boot_retry_interval < 0:
            raise ValueError("timeouts and intervals must not be negative")

    @classmethod
    def from_env(cls) -> "GatewayConfig":
        env = os.environ
        defaults = cls()
        return cls(
            default_boot_status=env.get("CHARGECA_OCPP_BOOT_STATUS", defaults.default_boot_status),
            heartbeat_interval=int(env.get("CHARGECA_OCPP_HEARTBEAT_INTERVAL", defaults.heartbeat_interval)),
            boot_retry_interval=int(env.get("CHARGECA_OCPP_BOOT_RETRY_INTERVAL", defaults.boot_retry_interval)),
            call_timeout=float(env.get("CHARGECA_OCPP_CALL_TIMEOUT", defaults.call_timeout)),
        )
