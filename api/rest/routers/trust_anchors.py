"""Trust anchors on stations: their certificate inventory, InstallCertificate, DeleteCertificate.

Roles. Reading the stored inventory: officer, operator, auditor. Refreshing it (asks the station,
changes nothing on it): officer, operator. Installing or deleting any trust anchor: officer
only. Not just the CSMS root: a ManufacturerRootCertificate decides which firmware the station
will run (L01), V2G and MO roots which contract certificates it trusts; each is a CA-level
change.

Status codes of the install and delete routes:
  200  the station answered; ``status`` is its answer (Accepted, Rejected, Failed, NotFound).
       A refusal by the station is a business outcome, reported, not an HTTP error.
  422  refused before anything was sent; ``rule`` names the policy rule (e.g. root.not_ca,
       delete.last_csms_root) — or the request itself is invalid.
  404  no such station, inventory entry or CA.  409  the station is not connected.
  502  the station answered with a CALLERROR (``error_code``).
  504  no answer in time (``sent`` tells whether the station got the request).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, model_validator

from api.core.audit import run_in_session
from api.csms.security.installed_certificates import (
    CERTIFICATE_ID_TYPES,
    InventoryEntry,
    InventoryRefresh,
    StoredInventory,
    refresh_inventory,
    stored_inventory,
)
from api.csms.security.trust_anchors import (
    DeleteResult,
    InstallResult,
    StationAnswer,
    StationCallFailed,
    by_row_id,
    delete_certificate,
    delete_matching,
    install_root,
)
from api.ocpp.session import ERROR, NOT_CONNECTED, TIMEOUT
from api.rest import errors
from api.rest.auth import AnyRole, OfficerOnly, StationOps
from api.rest.errors import ApiError
from api.rest.numbers import RowId
from api.rest.request_body import RequestBody
from api.rest.routers.station_ops import GatewayDep
from policies.trust_anchor import INSTALLABLE_TYPES

router = APIRouter(tags=["trust anchors"])

_BASE = "/api/v1/stations/{station_id}/installed-certificates"
CertificateIdType = Literal[CERTIFICATE_ID_TYPES]  # type: ignore[valid-type]
InstallableType = Literal[INSTALLABLE_TYPES]  # type: ignore[valid-type]
Timeout = Annotated[float | None, Field(gt=0, le=300, description="Seconds to wait for each answer. "
                                                                  "Default: the gateway's.")]
_CHANGE_ERRORS = {
    409: {"model": errors.ErrorBody, "description": "The station is not connected."},
    502: {"model": errors.ErrorBody, "description": "The station answered with a CALLERROR (`error_code`)."},
    504: {"model": errors.ErrorBody, "description": "No answer in time; `sent` tells whether it got the request."},
    **errors.responses(401, 403, 404, 422, 503),
}


# --- what is shown ------------------------------------------------------------------------------

class HashDataOut(BaseModel):
    hashAlgorithm: str
    issuerNameHash: str
    issuerKeyHash: str
    serialNumber: str


class InstalledCertificateOut(BaseModel):
    id: int = Field(description="Inventory entry id; stays the same while the station keeps reporting it.")
    certificate_type: str
    hash_algorithm: str = Field(description="As the station reported it; DeleteCertificate uses the same.")
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str
    parent_id: int | None = Field(description="For a sub-CA of a V2GCertificateChain: its leaf's entry.")
    reported_at: datetime
    csms_generation: int | None = Field(description="When the entry is one of our CSMS roots (or a cross "
                                                    "certificate carrying one): that root's generation.")
    cross_signed: bool | None = Field(description="True: our root's key signed by an older root of ours.")

    @classmethod
    def of(cls, entry: InventoryEntry) -> InstalledCertificateOut:
        row, anchor = entry.row, entry.anchor
        return cls(id=row.id, certificate_type=row.certificate_type, hash_algorithm=row.hash_algorithm,
                   issuer_name_hash=row.issuer_name_hash, issuer_key_hash=row.issuer_key_hash,
                   serial_number=row.serial_number, parent_id=row.parent_id, reported_at=row.reported_at,
                   csms_generation=anchor.generation if anchor else None,
                   cross_signed=anchor.cross_signed if anchor else None)


class InventoryOut(BaseModel):
    station_id: str
    refreshed_at: datetime | None = Field(description="When the station last answered GetInstalledCertificateIds; "
                                                      "null: never asked, so the list is unknown, not empty.")
    certificates: list[InstalledCertificateOut]
    capacity: int | None = Field(description="How many certificates the station can store (SecurityCtrlr."
                                             "CertificateEntries maxLimit, from its last device-model report that "
                                             "gave one, e.g. GetBaseReport FullInventory); null: unknown. An install "
                                             "is refused when the entries without a parent fill it.")

    @classmethod
    def of(cls, inventory: StoredInventory) -> InventoryOut:
        return cls(station_id=inventory.station_id, refreshed_at=inventory.refreshed_at,
                   certificates=[InstalledCertificateOut.of(e) for e in inventory.entries],
                   capacity=inventory.capacity)


class RefreshOut(BaseModel):
    types: list[str] | None = Field(description="The types asked for; null: certificateType omitted (all types).")
    call_status: str = Field(description="answered, error, timeout or not_connected.")
    status: str | None = Field(description="The station's answer: Accepted or NotFound.")
    error_code: str | None = None
    description: str = ""

    @classmethod
    def of(cls, refresh: InventoryRefresh) -> RefreshOut:
        return cls(types=list(refresh.types) if refresh.types else None, call_status=refresh.call_status,
                   status=refresh.station_status, error_code=refresh.error_code, description=refresh.description)


class RefreshResultOut(BaseModel):
    refresh: RefreshOut
    inventory: InventoryOut


class SentCertificateOut(BaseModel):
    subject: str
    serial_number: str
    sha256_fingerprint: str
    cross_signed: bool = Field(description="Our root cross-signed by the root the station holds "
                                           "(station with AdditionalRootCertificateCheck=true).")
    generation: int | None = Field(description="Our root generation, when it is ours.")


class InstallOut(BaseModel):
    certificate_type: str
    status: str = Field(description="The station's answer: Accepted, Rejected or Failed.")
    status_info: dict[str, Any] | None = None
    certificate: SentCertificateOut
    additional_root_check: bool | None = Field(description="The station's SecurityCtrlr."
                                                           "AdditionalRootCertificateCheck (CSMS root only).")
    forced: bool = Field(description="Sent over install.capacity_full by an officer (reason in the audit log).")
    refresh: RefreshOut | None = Field(description="The inventory refresh that followed; null when none was possible.")
    inventory: InventoryOut


class DeleteOut(BaseModel):
    certificate_type: str
    status: str = Field(description="The station's answer: Accepted, Failed or NotFound.")
    status_info: dict[str, Any] | None = None
    certificate_hash_data: HashDataOut = Field(description="Exactly what was sent: the station's own report.")
    forced: bool = Field(description="A safety rule was overridden by an officer (reason in the audit log).")
    refresh_before: RefreshOut | None = Field(None, description="One-request delete: the GetInstalledCertificateIds "
                                                                "it resolved the certificate against.")
    refresh: RefreshOut | None
    inventory: InventoryOut


# --- what is asked ------------------------------------------------------------------------------

class RefreshIn(RequestBody):
    types: list[CertificateIdType] | None = Field(  # type: ignore[valid-type]
        None, min_length=1, description="Certificate types to ask for; omitted or null: all types "
                                        "(GetInstalledCertificateIds without certificateType).")
    timeout: Timeout = None


class InstallIn(RequestBody):
    certificate_type: InstallableType  # type: ignore[valid-type]
    pem: str | None = Field(None, max_length=20000, description="The root certificate, PEM. Checked before it is "
                            "sent: one self-signed CA certificate with keyCertSign, valid now, at most 5500 "
                            "characters.")
    source: Literal["csms-root"] | None = Field(None, description="Instead of `pem`: our active CSMS root, as "
                                                "this station must receive it (cross-signed by the root it holds "
                                                "when it has AdditionalRootCertificateCheck=true).")
    force: bool = Field(False, description="Send although the station's known capacity is full "
                                           "(install.capacity_full); needs `reason`. The station may answer Failed.")
    reason: str | None = Field(None, max_length=500)
    timeout: Timeout = None

    @model_validator(mode="after")
    def _one_source(self) -> InstallIn:
        if (self.pem is None) == (self.source is None):
            raise ValueError("give exactly one of `pem` and `source`")
        return self


class DeleteMatchingIn(RequestBody):
    certificate_type: CertificateIdType  # type: ignore[valid-type]
    serial_number: str | None = Field(None, max_length=40, description="Hex serial of the certificate to delete.")
    ca_id: str | None = Field(None, max_length=36, description="One of our CAs: delete the entry that is its "
                              "certificate (a root also matches its cross certificates).")
    force: bool = Field(False, description="Override a safety rule (last CSMS root, served anchor); needs `reason`.")
    reason: str | None = Field(None, max_length=500)
    timeout: Timeout = None


# --- routes -------------------------------------------------------------------------------------

def _inventory(request: Request, station_id: str) -> InventoryOut:
    return InventoryOut.of(run_in_session(request.app.state.ctx,
                                                     lambda s: stored_inventory(s, station_id)))


def _not_answered(call_status: str, description: str, *, sent: bool, error_code: str | None = None) -> ApiError:
    if call_status == NOT_CONNECTED:
        return ApiError(409, description, rule="station.not_connected", call_status=call_status, sent=sent)
    if call_status == TIMEOUT:
        return ApiError(504, description or "no answer in time", call_status=call_status, sent=sent)
    return ApiError(502, f"the station answered with a CALLERROR {error_code}: {description}",
                    rule="station.call_error", call_status=ERROR, error_code=error_code, sent=sent)


def _check_answer(answer: StationAnswer) -> None:
    if answer.status is None:
        raise _not_answered(answer.call_status, answer.description, sent=answer.sent, error_code=answer.error_code)


def _refresh_out(refresh: InventoryRefresh | None) -> RefreshOut | None:
    return RefreshOut.of(refresh) if refresh is not None else None


@router.get(_BASE, response_model=InventoryOut, responses=errors.responses(401, 403, 404, 503))
async def get_inventory(station_id: str, _principal: AnyRole, request: Request) -> InventoryOut:
    """The station's certificates as it last reported them (hash data exactly as reported), with
    those that are our CSMS roots marked. Does not ask the station: see `refresh`.
    Roles: officer, operator, auditor."""
    return await asyncio.to_thread(_inventory, request, station_id)


@router.post(f"{_BASE}/refresh", response_model=RefreshResultOut, responses=_CHANGE_ERRORS)
async def refresh(station_id: str, principal: StationOps, gateway: GatewayDep, request: Request,
                  body: RefreshIn | None = None) -> RefreshResultOut:
    """Ask the station (GetInstalledCertificateIds, for `types` or for all types) and store its
    answer; NotFound empties those types. Roles: officer, operator."""
    body = body or RefreshIn()
    await asyncio.to_thread(_inventory, request, station_id)  # 404 before anything is sent
    result = await refresh_inventory(gateway, principal.actor, station_id, body.types, body.timeout)
    if not result.updated:
        raise _not_answered(result.call_status, result.description, sent=result.sent, error_code=result.error_code)
    return RefreshResultOut(refresh=RefreshOut.of(result), inventory=await asyncio.to_thread(_inventory, request,
                                                                                            station_id))


@router.post(_BASE, response_model=InstallOut, responses=_CHANGE_ERRORS)
async def install(station_id: str, body: InstallIn, principal: OfficerOnly, gateway: GatewayDep,
                  request: Request) -> InstallOut:
    """InstallCertificate: `pem`, or our active CSMS root (`source: "csms-root"`). Refused before
    sending, with the rule, unless it is a usable trust anchor, and when the station's known
    capacity is full (`install.capacity_full`, unless forced with a reason; a certificate it
    already holds takes no new place); the inventory is refreshed after. Roles: officer."""
    result: InstallResult = await install_root(gateway, principal.actor, station_id, body.certificate_type,
                                               body.pem, force=body.force, reason=body.reason, timeout=body.timeout)
    _check_answer(result.answer)
    root = result.root
    return InstallOut(certificate_type=root.certificate_type, status=result.answer.status,
                      status_info=result.answer.status_info,
                      certificate=SentCertificateOut(subject=root.subject, serial_number=root.serial_number,
                                                     sha256_fingerprint=root.sha256_fingerprint,
                                                     cross_signed=root.cross_signed, generation=root.generation),
                      additional_root_check=result.additional_root_check, forced=result.forced,
                      refresh=_refresh_out(result.inventory),
                      inventory=await asyncio.to_thread(_inventory, request, station_id))


async def _delete_out(request: Request, station_id: str, result: DeleteResult) -> DeleteOut:
    _check_answer(result.answer)
    return DeleteOut(certificate_type=result.certificate_type, status=result.answer.status,
                     status_info=result.answer.status_info,
                     certificate_hash_data=HashDataOut(**result.hash_data.to_ocpp()), forced=result.forced,
                     refresh_before=_refresh_out(result.inventory_before), refresh=_refresh_out(result.inventory),
                     inventory=await asyncio.to_thread(_inventory, request, station_id))


@router.delete(f"{_BASE}/{{row_id}}", response_model=DeleteOut, responses=_CHANGE_ERRORS)
async def delete(station_id: str, row_id: RowId, principal: OfficerOnly, gateway: GatewayDep, request: Request,
                 force: Annotated[bool, Query(description="Override a safety rule; needs `reason`.")] = False,
                 reason: Annotated[str | None, Query(max_length=500)] = None,
                 timeout: Annotated[float | None, Query(gt=0, le=300)] = None) -> DeleteOut:
    """DeleteCertificate of inventory entry `row_id`, with the hash data and algorithm the station
    reported for it (M04.FR.07). Refused (422) when it is the station's last CSMSRootCertificate
    or anchors the CSMS server certificate we serve, unless forced with a reason (audited).
    Roles: officer."""
    result = await delete_certificate(gateway, principal.actor, station_id, by_row_id(row_id), force=force,
                                      reason=reason, timeout=timeout)
    return await _delete_out(request, station_id, result)


@router.post(f"{_BASE}/delete", response_model=DeleteOut, responses=_CHANGE_ERRORS)
async def delete_fresh(station_id: str, body: DeleteMatchingIn, principal: OfficerOnly, gateway: GatewayDep,
                       request: Request) -> DeleteOut:
    """One request, two calls: GetInstalledCertificateIds for `certificate_type`, then
    DeleteCertificate with exactly the hash data the station returned for the entry named by
    `serial_number` or `ca_id` (or the only entry of that type). Same rules as DELETE.
    Roles: officer."""
    try:
        result = await delete_matching(gateway, principal.actor, station_id, body.certificate_type,
                                       serial_number=body.serial_number, ca_id=body.ca_id, force=body.force,
                                       reason=body.reason, timeout=body.timeout)
    except StationCallFailed as exc:
        raise _not_answered(exc.refresh.call_status, str(exc), sent=exc.refresh.sent,
                            error_code=exc.refresh.error_code) from None
    return await _delete_out(request, station_id, result)
