"""The database side of admission: read what the filters need, write what a connect decides.

Blocking; admission calls it on worker threads. A plain connect only reads: writes happen when a
connect settles something (A05 profile raise, A01 password switch, a new certificate in use) and
when a connect is refused (a security event).
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from sqlmodel import select

from api.ocpp.admission import PENDING, Admitted, CertificateRecord, Refused, StationView
from pki.authorities import organization
from pki.supersession import activate_certificate
from storage import audit
from storage.certificates import CertKind, CertStatus, IssuedCertificate
from storage.db import session_scope
from storage.security_events import SecurityEvent
from storage.stations import Station
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.admission")

ACTOR = "system:ocpp-admission"
_TECH_INFO_MAX = 255


class DatabaseAdmissionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def station(self, identity: str) -> StationView | None:
        with session_scope(self._engine) as session:
            row = session.get(Station, identity)
            if row is None:
                return None
            return StationView(row.id, row.security_profile, row.pending_security_profile,
                               row.password_hash, row.pending_password_hash, row.enabled)

    def organization(self) -> str:
        with session_scope(self._engine) as session:
            return organization(session)

    def certificate_record(self, ca_id: str, serial_hex: str) -> CertificateRecord | None:
        with session_scope(self._engine) as session:
            row = session.exec(select(IssuedCertificate).where(
                IssuedCertificate.issuer_id == ca_id, IssuedCertificate.serial_hex == serial_hex,
                IssuedCertificate.kind == CertKind.STATION)).first()
            return CertificateRecord(row.id, row.status) if row else None

    def record_refusal(self, identity: str | None, refusal: Refused, remote_address: str | None) -> None:
        tech_info = f"{refusal.rule}: {refusal.reason}"
        if remote_address:
            tech_info += f" (from {remote_address})"
        log.warning("refused OCPP connection of %r: %d %s", identity, int(refusal.status), tech_info)
        with session_scope(self._engine) as session:
            session.add(SecurityEvent(station_id=identity[:48] if identity else None, source="csms",
                                      type=refusal.event_type, occurred_at=utcnow(),
                                      tech_info=tech_info[:_TECH_INFO_MAX], critical=refusal.critical))

    def commit(self, admitted: Admitted) -> None:
        if not (admitted.raises_profile or _settles_password(admitted) or _activates_certificate(admitted)):
            return
        with session_scope(self._engine) as session:
            station = session.get(Station, admitted.station_id)
            if station is None:
                return
            settled = [*_raise_profile(station, admitted), *_settle_password(station, admitted)]
            if settled:
                station.updated_at = utcnow()
                session.add(station)
            settled += _activate_certificate(session, admitted)
            for action, detail in settled:
                audit.append(session, actor=ACTOR, action=action, target=admitted.station_id,
                             outcome=audit.Outcome.SUCCESS, detail=detail)
                log.info("%s: %s %s", admitted.station_id, action, detail)


def _settles_password(admitted: Admitted) -> bool:
    return admitted.password is not None and admitted.password.pending_password_hash is not None


def _activates_certificate(admitted: Admitted) -> bool:
    return admitted.certificate is not None and admitted.certificate.status == CertStatus.ISSUED


def _raise_profile(station: Station, admitted: Admitted) -> list[tuple[str, dict]]:
    # Only if nobody changed the pending profile since the filters read it.
    if not admitted.raises_profile or station.pending_security_profile != admitted.security_profile:
        return []
    previous = station.security_profile
    station.security_profile = admitted.security_profile
    station.pending_security_profile = None
    return [("station.security_profile.raise", {"from": previous, "to": admitted.security_profile,
                                                "trigger": "first connection under the new profile (A05.FR.07)"})]


def _settle_password(station: Station, admitted: Admitted) -> list[tuple[str, dict]]:
    seen = admitted.password
    if seen is None or seen.pending_password_hash is None:
        return []
    # Compare-and-set: a password change started after the filters read the row stays pending.
    if (station.password_hash, station.pending_password_hash) != (seen.password_hash, seen.pending_password_hash):
        return []
    if seen.matched == PENDING:
        station.password_hash = seen.pending_password_hash
        outcome = "new password in use; old password dropped"
    else:
        outcome = "old password still in use; new password dropped"
    station.pending_password_hash = None
    return [("station.password.settle", {"outcome": outcome, "trigger": "first successful authentication (A01)"})]


def _activate_certificate(session, admitted: Admitted) -> list[tuple[str, dict]]:
    if not _activates_certificate(admitted):
        return []
    activation = activate_certificate(session, admitted.certificate.record_id)
    if activation is None:
        return []
    return [("certificate.activate", {"serial": activation.certificate.serial_hex,
                                      "superseded": list(activation.superseded),
                                      "trigger": "station connected with it (profile 3)"})]
