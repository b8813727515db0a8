"""A rule refused a request: the one shape every layer raises and every door translates."""

from __future__ import annotations

class Refusal(ValueError):
    """The request is understood but not allowed; ``rule`` names why (e.g. 'station.exists')."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule


class RoleRequired(Refusal):
    """The actor's role may not do this (REST answers 403); ``required_roles`` says who may."""

    def __init__(self, rule: str, reason: str, required_roles: list[str]) -> None:
        super().__init__(rule, reason)
        self.required_roles = required_roles
