"""Functional block B — Provisioning: BootNotification (B01–B03) and NotifyReport (B07/B08)."""

from __future__ import annotations

import logging
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlmodel import Session

from api.ocpp.boot import ACCEPTED, REJECTED
from api.ocpp.handlers import StationCall, now_iso
from api.ocpp.handlers.security import record_csms_event
from storage.stations import Station
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.provisioning")

SERIAL_MISMATCH_EVENT = "ChargingStationSerialNumberMismatch"


async def boot_notification(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    info = payload["chargingStation"]
    mismatch = _serial_mismatch(call, info.get("serialNumber"))
    if mismatch:
        # B01.FR.11/12: on profile 3 the station must be the one its certificate names.
        await call.db(lambda session: record_csms_event(session, call.station_id, SERIAL_MISMATCH_EVENT, mismatch))
        call.disconnect(mismatch)
        return {}
    status = await call.db(lambda session: _record_boot(session, call.station_id, info,
                                                        call.config.default_boot_status))
    call.boot.booted(status)
    log.info("BootNotification from %s (%s): %s", call.station_id, payload["reason"], status)
    interval = call.config.heartbeat_interval if status == ACCEPTED else call.config.boot_retry_interval
    return {"currentTime": now_iso(), "interval": interval, "status": status}


def _record_boot(session: Session, station_id: str, info: dict[str, Any], default_status: str) -> str:
    station = session.get(Station, station_id)
    if station is None:  # deleted while connected: nothing to boot into
        return REJECTED
    status = station.boot_policy or default_status
    station.serial_number = info.get("serialNumber")
    station.model = info["model"]
    station.vendor_name = info["vendorName"]
    station.firmware_version = info.get("firmwareVersion")
    # last_boot_at doubles as "was accepted": a station that reconnects without booting again
    # (P4 §5.3) is let in only if its last BootNotification was Accepted.
    station.last_boot_at = utcnow() if status == ACCEPTED else None
    station.updated_at = utcnow()
    session.add(station)
    return status


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
    # Storing the device model is a later issue; acknowledging every part keeps the stream going.
    log.info("NotifyReport %s part %s from %s (%d entries)", payload["requestId"], payload["seqNo"],
             call.station_id, len(payload.get("reportData", [])))
    return {}
