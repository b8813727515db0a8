"""Functional block B — Provisioning: BootNotification (B01–B03) and NotifyReport (B07/B08)."""

from __future__ import annotations

import logging
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import bindparam, case, exists, func, null, select, update
from sqlmodel import Session

from api.csms.provisioning import device_model, onboarding
from api.csms.provisioning.device_model import VariableId
from api.csms.provisioning.device_report import certificate_capacity, store_certificate_capacity
from api.csms.provisioning.service import AWAITING_REBOOT, close_resets
from api.csms.security.handlers import record_csms_event
from api.ocpp.boot import ACCEPTED, PENDING, REJECTED
from api.ocpp.handler import StationCall, now_iso
from policies.model import OnboardingPolicy
from policies.provisioning import heartbeat_interval
from storage.db import DatabaseUnavailable
from storage.device_model import DeviceVariable, StationOnboarding, StationReset
from storage.stations import Station
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.provisioning")

SERIAL_MISMATCH_EVENT = "ChargingStationSerialNumberMismatch"
# Station columns that keep what its device model reported (GetVariables, NotifyReport).
DEVICE_MODEL_COLUMNS = ("max_chain_size", "additional_root_check", "certificate_capacity")


async def boot_notification(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    info = payload["chargingStation"]
    mismatch = _serial_mismatch(call, info.get("serialNumber"))
    if mismatch:
        # B01.FR.11/12: on profile 3 the station must be the one its certificate names.
        await call.db(lambda session: record_csms_event(session, call.station_id, SERIAL_MISMATCH_EVENT, mismatch))
        call.disconnect(mismatch)
        return {}
    policy = call.ctx.policy.onboarding
    try:
        status, limits = await call.db_grouped(lambda session: _record_boot(
            session, call.station_id, info, payload["reason"], call.config.default_boot_status, policy))
    except DatabaseUnavailable as exc:
        # Nothing to decide with (the boot policy) nor to record in: Pending makes the station
        # boot again after the retry interval (B02), when the database may be back.
        if (times := call.live.repeats.log_line("boot.database_unavailable")) is not None:
            log.warning("BootNotification from %s answered Pending: the database is unavailable (%s)%s",
                        call.station_id, exc, times)
        call.boot.booted(PENDING)
        return {"currentTime": now_iso(), "interval": call.config.boot_retry_interval, "status": PENDING,
                "statusInfo": {"reasonCode": "ServiceUnavailable",
                               "additionalInfo": "the CSMS database is unavailable; boot again later"}}
    call.boot.booted(status)
    # A fleet boots thousands of times a day and the row keeps the boot data; only a station
    # turned away is worth a line at INFO, and it may boot again as fast as it sends.
    if status == ACCEPTED:
        log.debug("BootNotification from %s (%s): %s", call.station_id, payload["reason"], status)
    elif (times := call.live.repeats.log_line(f"boot {status}")) is not None:
        log.info("BootNotification from %s (%s): %s%s", call.station_id, payload["reason"], status, times)
    # The heartbeat interval within the limits the station reported for HeartbeatInterval.
    interval = heartbeat_interval(call.config.heartbeat_interval, *limits) if status == ACCEPTED \
        else call.config.boot_retry_interval
    return {"currentTime": now_iso(), "interval": interval, "status": status}


def _record_boot(session: Session, station_id: str, info: dict[str, Any], reason: str, default_status: str,
                 policy: OnboardingPolicy) -> tuple[str, tuple[float | None, float | None]]:
    """(how to answer, the station's (minLimit, maxLimit) of OCPPCommCtrlr.HeartbeatInterval)."""
    row = session.connection().execute(_RECORD_BOOT, {
        "station": station_id, "default_status": default_status, "now": utcnow(), "heartbeat": _HEARTBEAT_KEY,
        "serial": info.get("serialNumber"), "model": info["model"], "vendor": info["vendorName"],
        "firmware": info.get("firmwareVersion")}).first()
    if row is None:
        return REJECTED, (None, None)  # deleted while connected, nothing to boot into
    status, min_limit, max_limit, onboarding_state, reset_open = row
    if reset_open and reason != "Triggered":
        # A reboot ends the Resets it was asked for (B11/B12); a triggered boot is no reboot.
        close_resets(session, station_id, reason)
    if status == ACCEPTED and onboarding.holds_back(policy, onboarding_state):
        onboarding.hold(session, station_id, onboarding_state)
        status = PENDING
    return status, (min_limit, max_limit)


def _record_boot_statement():
    # One prepared Core statement, not ORM select-then-update: a boot storm runs it per station,
    # and building a statement costs more than executing it.
    station = Station.__table__.c
    status = func.coalesce(station.boot_policy, bindparam("default_status"))
    now = bindparam("now", type_=station.updated_at.type)
    # What the device model reported may differ after a firmware update: forgotten, it is asked
    # for again when needed (GetVariables) or unknown until the next report.
    firmware_changed = station.firmware_version.is_distinct_from(bindparam("firmware"))
    reported = {name: case((firmware_changed, null()), else_=station[name]) for name in DEVICE_MODEL_COLUMNS}
    variable = DeviceVariable.__table__.c
    limits = [select(column).where(variable.station_id == bindparam("station"),
                                   variable.var_key == bindparam("heartbeat")).scalar_subquery()
              for column in (variable.min_limit, variable.max_limit)]
    onboarding_state = select(StationOnboarding.__table__.c.state).where(
        StationOnboarding.__table__.c.station_id == bindparam("station")).scalar_subquery()
    # Whether a Reset awaits this boot: asked here so that a boot without one costs no statement more.
    reset = StationReset.__table__.c
    reset_open = exists().where(reset.station_id == bindparam("station"), reset.status.in_(AWAITING_REBOOT))
    return (update(Station.__table__).where(station.id == bindparam("station"))
            .values(serial_number=bindparam("serial"), model=bindparam("model"), vendor_name=bindparam("vendor"),
                    firmware_version=bindparam("firmware"), **reported,
                    # last_boot_at doubles as "was accepted": a station that reconnects without
                    # booting again (P4 §5.3) is let in only if its last BootNotification was Accepted.
                    last_boot_at=case((status == ACCEPTED, now), else_=null()), updated_at=now)
            .returning(status, *limits, onboarding_state, reset_open))


_RECORD_BOOT = _record_boot_statement()
_HEARTBEAT_KEY = VariableId("OCPPCommCtrlr", "HeartbeatInterval").key


def _serial_mismatch(call: StationCall, serial_number: str | None) -> str | None:
    """Why a profile-3 station's BootNotification contradicts its client certificate, or None.

    A BootNotification without serialNumber contradicts nothing: the certificate's CN was
    already checked against the station identity when the connection was admitted."""
    if call.connection.security_profile != 3 or serial_number is None:
        return None
    common_name = certificate_cn(call.connection.client_certificate)
    if common_name == serial_number:
        return None
    return f"BootNotification serialNumber {serial_number!r} differs from the client certificate CN {common_name!r}"


def certificate_cn(certificate: Any) -> str | None:
    if certificate is None:
        return None
    if isinstance(certificate, (bytes, bytearray)):
        certificate = x509.load_der_x509_certificate(bytes(certificate))
    elif isinstance(certificate, str):
        certificate = x509.load_pem_x509_certificate(certificate.encode())
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


async def notify_report(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    # Every part is acknowledged, even one beyond what we keep or out of its order: a CALLERROR
    # would only make the station send it again (api/csms/provisioning/device_model.py).
    report_data = payload.get("reportData", [])
    log.debug("NotifyReport %s part %s from %s (%d entries)", payload["requestId"], payload["seqNo"],
              call.station_id, len(report_data))
    capacity = certificate_capacity(report_data)
    policy = call.ctx.policy.device_model

    def store(session: Session) -> None:
        device_model.store_report_part(session, call.station_id, payload, policy)
        if capacity is not None:
            store_certificate_capacity(session, call.station_id, capacity)
    await call.db(store)
    return {}
