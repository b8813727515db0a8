"""Block N09/N10 over REST: ask a station for what it keeps about a customer, or have it erased
(CustomerInformation with a requestId ChargeCA draws), and read what it reported.

What stations report about a customer is personal data: sending is an officer's (the call rule),
reading is an officer's or an auditor's, and every read — the list as well, it names the
customers — is an audit entry (``customer_information.read``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from ocpp.v201.datatypes import CertificateHashDataType, IdTokenType
from pydantic import BaseModel, Field

from api.core.audit import audited, require_station
from api.core.refusal import NotFound
from api.csms import report_streams
from api.csms.customer_information import commands, service
from api.csms.ids import ID_MAX
from api.rest import errors
from api.rest.auth import Ctx, OfficerOnly, Oversight
from api.rest.numbers import INT32_MAX
from api.rest.request_body import RequestBody
from api.rest.routers.drawn_ids import send_with_drawn_id
from api.rest.routers.station_ops import GatewayDep, JobsDep

router = APIRouter(tags=["customer information"])

RequestId = Annotated[int, Path(ge=0, le=ID_MAX, description="The CustomerInformation requestId.")]


class CustomerInformationIn(RequestBody):
    report: bool = Field(description="Have the station report what it keeps (NotifyCustomerInformation).")
    clear: bool = Field(description="Have the station erase it.")
    id_token: IdTokenType | None = None
    customer_certificate: CertificateHashDataType | None = None
    customer_identifier: str | None = Field(None, min_length=1, max_length=64)


class CustomerInformationRequestOut(BaseModel):
    request_id: int
    subject: dict[str, Any] = Field(description="What was asked: report, clear and the one identifier.")
    status: str = Field(description="requested (no answer yet); the station's answer Accepted, Rejected, Invalid; "
                                    "without an answer: error, timeout, not_connected, refused.")
    parts: int
    complete: bool = Field(description="The last part (tbc false) came and none before it was missing.")
    gap: bool = Field(description="A part came out of order or twice.")
    requested_by: str
    requested_at: datetime
    answered_at: datetime | None
    last_part_at: datetime | None


class CustomerInformationPartOut(BaseModel):
    seq_no: int
    tbc: bool
    data: str
    generated_at: datetime
    received_at: datetime


class CustomerInformationOut(CustomerInformationRequestOut):
    data: str = Field(description="The parts' data joined in seqNo order.")
    part_list: list[CustomerInformationPartOut]


def _request_out(row) -> dict[str, Any]:
    return {**row.model_dump(), "subject": report_streams.subject(row)}


@router.post("/api/v1/stations/{station_id}/customer-information",
             responses={409: {"model": errors.ErrorBody, "description": "station not connected."},
                        504: {"model": errors.ErrorBody, "description": "no answer in time."},
                        **errors.responses(401, 403, 404, 422, 503)})
async def request_customer_information(station_id: str, body: CustomerInformationIn, principal: OfficerOnly,
                                       gateway: GatewayDep, jobs: JobsDep) -> Any:
    """CustomerInformation (N09 report, N10 clear, or both) with a requestId ChargeCA draws; the
    customer named by exactly one of `id_token`, `customer_certificate`, `customer_identifier`.
    The station's answer as the typed command gives it, plus `request_id`; follow the report
    with `GET …/customer-information/{request_id}`. Role: officer."""
    def make(request_id: int) -> commands.CustomerInformation:
        return commands.CustomerInformation(request_id=request_id, report=body.report, clear=body.clear,
                                            id_token=body.id_token, customer_certificate=body.customer_certificate,
                                            customer_identifier=body.customer_identifier)
    return await send_with_drawn_id(gateway, jobs, principal.actor, station_id, make, "report.request_id_taken",
                                    "request_id")


@router.get("/api/v1/stations/{station_id}/customer-information",
            response_model=list[CustomerInformationRequestOut], responses=errors.responses(401, 403, 404, 503))
async def customer_information_requests(station_id: str, principal: Oversight, ctx: Ctx,
                                        limit: int = Query(100, ge=1, le=1000),
                                        before_id: int | None = Query(None, ge=1, le=INT32_MAX)) -> list[Any]:
    """The CustomerInformation requests sent to the station, newest first, and how far each
    report came (without the data). Audited. Roles: officer, auditor."""
    def read() -> list[Any]:
        with audited(ctx, principal.actor, "customer_information.read", station_id) as (session, detail):
            require_station(session, station_id)
            rows = service.listed(session, station_id, limit=limit, before_id=before_id)
            detail.update(listed=len(rows))
            return [_request_out(row) for row in rows]
    return await asyncio.to_thread(read)


@router.get("/api/v1/stations/{station_id}/customer-information/{request_id}",
            response_model=CustomerInformationOut, responses=errors.responses(401, 403, 404, 503))
async def customer_information(station_id: str, request_id: RequestId, principal: Oversight, ctx: Ctx) -> Any:
    """One request and the data the station reported for it, in seqNo order. Audited. Roles:
    officer, auditor."""
    def read() -> Any:
        with audited(ctx, principal.actor, "customer_information.read", station_id) as (session, detail):
            detail.update(request_id=request_id)
            require_station(session, station_id)
            found = service.one(session, station_id, request_id)
            if found is None:
                raise NotFound("customer_information.unknown",
                               f"no CustomerInformation request {request_id} for station {station_id!r}")
            row, parts = found
            return {**_request_out(row), "data": "".join(part.data for part in parts),
                    "part_list": [part.model_dump() for part in parts]}
    return await asyncio.to_thread(read)
