"""Read the policy: packaged defaults, then an officer's override file, key by key (a key the file
names replaces that default, lists included; every other key keeps its default)."""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from policies.model import (
    AdmissionPolicy,
    ChainPolicy,
    CsrPolicy,
    CustomerInformationPolicy,
    DeliveryPolicy,
    DeviceModelPolicy,
    FileTransferPolicy,
    FirmwarePolicy,
    KeyPolicy,
    LogPolicy,
    MessageLogPolicy,
    MeterValuePolicy,
    MonitoringPolicy,
    OnboardingPolicy,
    OutagePolicy,
    Policy,
    RenewalPolicy,
    RestPolicy,
    SecurityEventPolicy,
    SessionsPolicy,
    TlsPolicy,
    ValidityPolicy,
)

_SECTIONS: dict[str, type] = {
    "tls": TlsPolicy,
    "keys": KeyPolicy,
    "csr": CsrPolicy,
    "validity": ValidityPolicy,
    "chain": ChainPolicy,
    "admission": AdmissionPolicy,
    "delivery": DeliveryPolicy,
    "renewal": RenewalPolicy,
    "outage": OutagePolicy,
    "rest": RestPolicy,
    "security_events": SecurityEventPolicy,
    "meter_values": MeterValuePolicy,
    "monitoring": MonitoringPolicy,
    "customer_information": CustomerInformationPolicy,
    "sessions": SessionsPolicy,
    "file_transfer": FileTransferPolicy,
    "logs": LogPolicy,
    "firmware": FirmwarePolicy,
    "device_model": DeviceModelPolicy,
    "onboarding": OnboardingPolicy,
    "message_log": MessageLogPolicy,
}


class PolicyError(ValueError):
    """The policy file is not valid; the message names the key."""


def _build(section: str, cls: type, values: dict[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise PolicyError(f"unknown policy key [{section}].{key}")
        default = known[key].default
        if isinstance(value, list):
            value = tuple(value)
        if isinstance(default, float) and type(value) is int:
            value = float(value)  # "300" in TOML is an integer; a float figure takes it as such
        if default is not dataclasses.MISSING and type(default) is not type(value):
            raise PolicyError(
                f"[{section}].{key} must be {type(default).__name__}, got {type(value).__name__}"
            )
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise PolicyError(str(exc)) from exc


def parse_policy(data: dict[str, Any], base: dict[str, Any] | None = None) -> Policy:
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (base or {}).items()}
    for section, values in data.items():
        if section not in _SECTIONS:
            raise PolicyError(f"unknown policy section [{section}]")
        if not isinstance(values, dict):
            raise PolicyError(f"[{section}] must be a table")
        merged.setdefault(section, {}).update(values)
    return Policy(**{s: _build(s, cls, merged.get(s, {})) for s, cls in _SECTIONS.items()})


def default_policy_data() -> dict[str, Any]:
    text = resources.files("policies").joinpath("defaults.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_policy(override: Path | None = None) -> Policy:
    """Defaults, overlaid by ``override`` when that file exists."""
    defaults = default_policy_data()
    if override is None or not override.exists():
        return parse_policy({}, defaults)
    try:
        data = tomllib.loads(override.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{override}: {exc}") from exc
    return parse_policy(data, defaults)
