"""A rule refused a request: the one exception shape every layer raises and every door translates.

It lives here, in the lowest layer, because the CA engine (pki) refuses by the policies' rules
too; ``api.core.refusal`` re-exports it with the flavours the service adds. A door maps the
flavour, not the rule, to its answer: REST a status, the CLI an exit code, OCPP a statusInfo.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from policies.model import Decision


class Refusal(ValueError):
    """The request is understood but not allowed; ``rule`` names why (e.g. 'station.exists').

    ``reason`` is the sentence for a person (also ``str(exc)``); ``details`` are facts a client
    can act on without parsing it (never secrets: doors show them as they are).
    """

    def __init__(self, rule: str, reason: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason
        self.details: Mapping[str, Any] = MappingProxyType(dict(details or {}))

    @classmethod
    def of(cls, decision: Decision, **details: Any) -> "Refusal":
        """The refusal a policy decision stands for (``decision`` must be a refusal)."""
        return cls(decision.rule, decision.reason, details=details)


class NotFound(Refusal, LookupError):
    """The request names something that does not exist (REST answers 404)."""


class Conflict(Refusal):
    """The request is fine but the current state does not allow it now (REST answers 409)."""
