"""Read the policy: packaged defaults, then an officer's override file, key by key (a key the file
names replaces that default, lists included; every other key keeps its default)."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
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
from policies.tls import check_tls_policy

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


# TOML integers are 64-bit (tomllib reads any size); a larger figure reaches no column or clock.
_INT64 = range(-(2**63), 2**63)


class PolicyError(ValueError):
    """The policy file is not valid; the message names the key."""


def _build(section: str, cls: type, values: dict[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
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
        if type(value) is int and value not in _INT64:
            raise PolicyError(f"[{section}].{key} = {value} is beyond a 64-bit integer")
        # TOML has nan and inf; every comparison with nan is false, so no range check refuses it.
        if type(value) is float and not math.isfinite(value):
            raise PolicyError(f"[{section}].{key} must be a finite number, got {value}")
        if type(value) is tuple:
            item_type = typing.get_args(hints[key])[0]
            wrong = next((item for item in value if type(item) is not item_type), None)
            if wrong is not None:
                raise PolicyError(f"[{section}].{key} must list {item_type.__name__} values, "
                                  f"got {type(wrong).__name__} {wrong!r}")
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
    policy = Policy(**{s: _build(s, cls, merged.get(s, {})) for s, cls in _SECTIONS.items()})
    # Checked here, not first when the wss listener builds its context: every command that reads
    # the policy (and GET /api/v1/policy) would otherwise run with one serve refuses.
    decision = check_tls_policy(policy.tls)
    if not decision:
        raise PolicyError(f"[tls]: {decision.rule}: {decision.reason}")
    return policy


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
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise PolicyError(f"{override}: {exc}") from exc
    return parse_policy(data, defaults)
