"""A rule refused a request: the one shape every layer raises and every door translates.

The base classes live in policies/refusal.py so that pki, below this layer, raises them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.refusal import Conflict, NotFound, Refusal

__all__ = ["Conflict", "NotFound", "Refusal", "RoleRequired"]


class RoleRequired(Refusal):
    """The actor's role may not do this (REST answers 403); ``required_roles`` says who may."""

    def __init__(self, rule: str, reason: str, required_roles: list[str], *,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(rule, reason, details=details)
        self.required_roles = required_roles
