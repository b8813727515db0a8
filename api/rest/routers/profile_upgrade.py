"""A05: upgrade a station's security profile (SetNetworkProfile, NetworkConfigurationPriority, Reset)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.csms.security.profile_upgrade import UpgradeRequest, upgrade_security_profile
from api.rest import errors
from api.rest.auth import StationOps
from api.rest.request_body import RequestBody
from api.rest.routers.station_ops import GatewayDep

router = APIRouter(tags=["station operations"])


class UpgradeIn(RequestBody):
    target: int | None = Field(None, ge=2, le=3, description="default: one above the current profile")
    csms_url: str | None = Field(None, max_length=512, description="default: wss://<fqdn>:<wss port>/ocpp")
    ocpp_interface: Literal["Wired0", "Wired1", "Wired2", "Wired3",
                            "Wireless0", "Wireless1", "Wireless2", "Wireless3"] = "Wired0"
    message_timeout: int = Field(30, ge=1, le=600)
    reset: Literal["OnIdle", "Immediate"] = "OnIdle"


class UpgradeOut(BaseModel):
    target: int
    slot: int | None
    armed: bool = Field(description="true: the station may now connect under the target profile, "
                                    "and its first such connection makes it permanent")
    steps: list[dict[str, Any]]


@router.post("/api/v1/stations/{station_id}/security-profile-upgrade", response_model=UpgradeOut,
             responses={409: {"model": errors.ErrorBody,
                              "description": "Station not connected, or being upgraded already (upgrade.busy)."},
                        **errors.responses(401, 403, 404, 422, 503)})
async def upgrade(station_id: str, principal: StationOps, gateway: GatewayDep,
                  body: UpgradeIn | None = None) -> UpgradeOut:
    """Raise the station's security profile (OCPP A05). Prerequisites are checked first and each
    refusal names its rule (upgrade.no_csms_root, upgrade.no_password, upgrade.no_station_certificate,
    upgrade.target; 403 upgrade.csms_url for a csms_url other than this CSMS's unless an officer
    asks; 409 upgrade.busy while another upgrade of the station runs). A step the station
    refuses ends the upgrade, as does a NetworkConfigurationPriority it cannot use (status Unusable,
    rule upgrade.priority); `steps` shows each answer.
    Roles: officer, operator."""
    body = body or UpgradeIn()
    result = await upgrade_security_profile(gateway, principal.actor, station_id, UpgradeRequest(**body.model_dump()))
    return UpgradeOut(target=result.target, slot=result.slot, armed=result.armed, steps=result.steps)
