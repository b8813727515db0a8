"""The effective policy: packaged defaults overlaid by the officer's policy.toml."""

from __future__ import annotations

from fastapi import APIRouter

from api.rest import errors
from api.rest.auth import AnyRole, Ctx
from policies.model import Policy

router = APIRouter(prefix="/api/v1/policy", tags=["policy"])


@router.get("", response_model=Policy, responses=errors.responses(401, 403))
def get_policy(_principal: AnyRole, ctx: Ctx) -> Policy:
    """The policy this process runs with: TLS versions and cipher suites, accepted keys, CSR
    rules, validity periods, chain limits, admission. Read-only here: it changes by editing
    policy.toml and restarting. Roles: officer, operator, auditor."""
    return ctx.policy
