"""Block H over REST: reservations with ids we draw (ReserveNow), cancelling them
(CancelReservation), and what became of each (answered, expired, removed, used)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from ocpp.v201.datatypes import IdTokenType
from ocpp.v201.enums import ConnectorEnumType
from pydantic import BaseModel, Field

from api.core.audit import record_failure, require_station, run_in_session
from api.core.refusal import Conflict, NotFound
from api.csms.call_records import CALL, sync_call_detail
from api.csms.ids import ID_MAX, draw_id
from api.csms.reservations import commands, service
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, StationOps
from api.rest.instants import Instant
from api.rest.request_body import RequestBody
from api.rest.routers.commands import answered_outcome, build
from api.rest.routers.drawn_ids import DRAWS
from api.rest.routers.station_ops import GatewayDep, JobsDep, send_operator_call
from storage.types import INT32_MAX, INT32_MIN, utcnow

router = APIRouter(tags=["reservations"])

# Any 32-bit id: ChargeCA draws 1 to 2^31-1, but a ReserveNow sent by hand (the typed command, the
# generic call) may carry 0 or a negative id, and its reservation must be reachable here too.
ReservationId = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX, description="A reservation id (ChargeCA draws "
                                                                           "1 to 2^31-1; one sent by hand may be "
                                                                           "any 32-bit integer).")]


class ReservationIn(RequestBody):
    expiry_date_time: Instant = Field(description="When the reservation ends if unused; in the future.")
    id_token: IdTokenType
    evse_id: int | None = Field(None, ge=1, le=ID_MAX, description="Omit for any EVSE of the station.")
    connector_type: ConnectorEnumType | None = Field(None, description="Reserve a connector of this type.")
    group_id_token: IdTokenType | None = None


class ReservationOut(BaseModel):
    reservation_id: int
    evse_id: int | None
    connector_type: str | None
    id_token: str
    id_token_type: str
    group_id_token: str | None
    expires_at: datetime
    status: str = Field(description="requested (no answer yet); the station's answer Accepted, Faulted, "
                                    "Occupied, Rejected, Unavailable; then cancelled, Expired, Removed or used "
                                    "(`transaction_id`); without an answer: error, timeout, not_connected, refused.")
    transaction_id: str | None
    requested_by: str
    created_at: datetime
    updated_at: datetime


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _free_id(session, station_id: str) -> int:
    """A drawn id none of the station's reservations has: a ReserveNow with one it has replaces
    that reservation (H01), its record here and the reservation at the station."""
    for _ in range(DRAWS):
        drawn = draw_id()
        if service.find(session, station_id, drawn) is None:
            return drawn
    raise Conflict("reservation.id_taken", "no free reservation id was drawn; try again")


@router.post("/api/v1/stations/{station_id}/reservations",
             responses={409: {"model": errors.ErrorBody,
                              "description": "station not connected (or, rarely, `reservation.id_taken`: try again)."},
                        504: {"model": errors.ErrorBody, "description": "no answer in time."},
                        **errors.responses(401, 403, 404, 422, 503)})
async def reserve(station_id: str, body: ReservationIn, principal: StationOps, gateway: GatewayDep,
                  jobs: JobsDep, ctx: Ctx) -> Any:
    """ReserveNow (H01) with a reservation id ChargeCA draws: a specific EVSE (`evse_id`), any
    EVSE (neither), or a connector type. The station's answer as the typed command gives it,
    plus `reservation_id`. Roles: officer, operator."""
    if body.expiry_date_time.tzinfo is None:
        raise errors.ApiError(422, "expiry_date_time needs a time zone", rule="call.reservation.expiry",
                              field="body.expiry_date_time")
    reservation_id = await asyncio.to_thread(run_in_session, ctx, lambda session: _free_id(session, station_id))
    command = commands.ReserveNow(id=reservation_id, expiry_date_time=_iso(body.expiry_date_time),
                                  id_token=body.id_token, connector_type=body.connector_type, evse_id=body.evse_id,
                                  group_id_token=body.group_id_token)
    answered = await send_operator_call(gateway, jobs, principal.actor, station_id, command.action,
                                        build(commands.ReserveNow, command), job=False, timeout=None)
    return {"reservation_id": reservation_id, **answered_outcome(command.action, answered).model_dump()}


@router.delete("/api/v1/stations/{station_id}/reservations/{reservation_id}",
               responses={409: {"model": errors.ErrorBody, "description": "station not connected."},
                          504: {"model": errors.ErrorBody, "description": "no answer in time."},
                          **errors.responses(401, 403, 404, 422, 503)})
async def cancel(station_id: str, reservation_id: ReservationId, principal: StationOps, gateway: GatewayDep, jobs: JobsDep,
                 ctx: Ctx) -> Any:
    """CancelReservation (H02) of one of our reservations; Accepted marks it cancelled.
    Roles: officer, operator."""
    def known(session):
        require_station(session, station_id)
        if service.find(session, station_id, reservation_id) is None:
            raise NotFound("reservation.unknown", f"no reservation {reservation_id} for station {station_id!r}")
    try:
        await asyncio.to_thread(run_in_session, ctx, known)
    except NotFound as refused:   # audited as the call it stopped, as a call refused on its rules is
        detail = sync_call_detail(principal.actor, "CancelReservation", reservation_id=reservation_id)
        await asyncio.to_thread(record_failure, ctx, principal.actor, CALL, station_id, detail, refused)
        raise
    command = commands.CancelReservation(reservation_id=reservation_id)
    answered = await send_operator_call(gateway, jobs, principal.actor, station_id, command.action,
                                        build(commands.CancelReservation, command), job=False, timeout=None)
    return answered_outcome(command.action, answered).model_dump()


@router.get("/api/v1/stations/{station_id}/reservations", response_model=list[ReservationOut],
            responses=errors.responses(401, 403, 404, 503))
async def reservations(station_id: str, _principal: AnyRole, ctx: Ctx,
                       active: bool = Query(False, description="Only those not expired and still held.")
                       ) -> list[ReservationOut]:
    """The station's reservations, newest first. Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [ReservationOut.model_validate(row, from_attributes=True) for row in service.listed(
            session, station_id, active_at=utcnow() if active else None)]
    return await asyncio.to_thread(run_in_session, ctx, read)
