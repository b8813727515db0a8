"""The database side of admission: read what the filters need, write what a connect decides.

The plain methods block; admission calls them on worker threads. ``find_station`` and
``find_certificate_record`` are the same reads for the event loop, batched: in a reconnect storm
the connects that arrive together share one transaction (storage/batching.py) and still read
fresh rows, so a disabled station or a revoked certificate is refused at once. A plain connect
only reads: writes happen when a connect settles something (A05 profile raise, A01 password
switch, a new certificate in use) and when refusals are written (aggregated security events, see refusal_log.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection, Engine
from sqlmodel import select

from api.ocpp.admission.filters import PENDING, Admitted, CertificateRecord, StationView
from api.ocpp.admission.refusal_log import RefusalRow
from pki.authorities import organization
from pki.supersession import activate_certificate
from storage import audit
from storage.batching import Batcher
from storage.certificates import CertKind, CertStatus, IssuedCertificate
from storage.db import read_connection, read_scope, session_scope
from storage.security_events import SecurityEvent
from storage.stations import Station
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.admission")

ACTOR = "system:ocpp-admission"
_TECH_INFO_MAX = 255


# The CSO's name is the O of the active root; only a root rollover could change it, and the wss
# listener picks up a rollover on the same schedule (ListenerConfig.tls_watch_interval).
ORGANIZATION_TTL = 60.0

_STATION_COLUMNS = (Station.id, Station.security_profile, Station.pending_security_profile,
                    Station.password_hash, Station.pending_password_hash, Station.enabled)

# Built once and run as Core on a connection (no Session): these two reads run for every connect,
# and building an ORM select and running it through the ORM cost more than the read (one batch of
# a reconnect storm, measured in-process: 320 -> 165 µs on SQLite, 770 -> 490 µs on PostgreSQL;
# then without the Session, 5 stations a batch: 280 -> 215 µs on SQLite, 410 -> 310 on PostgreSQL).
_STATIONS = select(*_STATION_COLUMNS).where(Station.id.in_(bindparam("identities", expanding=True)))
# Serials are unique per issuer; selecting by serial and matching the issuer here keeps the
# statement portable (no row-value IN).
_CERTIFICATE_RECORDS = select(IssuedCertificate.issuer_id, IssuedCertificate.serial_hex, IssuedCertificate.id,
                              IssuedCertificate.status).where(
    IssuedCertificate.serial_hex.in_(bindparam("serials", expanding=True)),
    IssuedCertificate.kind == CertKind.STATION)


def _stations(connection: Connection, identities: list[str]) -> dict[str, StationView]:
    rows = connection.execute(_STATIONS, {"identities": sorted(set(identities))})
    return {row[0]: StationView(*row) for row in rows}


def _certificate_records(connection: Connection,
                         keys: list[tuple[str, str]]) -> dict[tuple[str, str], CertificateRecord]:
    rows = connection.execute(_CERTIFICATE_RECORDS, {"serials": sorted({serial for _, serial in keys})})
    return {(issuer, serial): CertificateRecord(record_id, status) for issuer, serial, record_id, status in rows}


class DatabaseAdmissionStore:
    def __init__(self, engine: Engine, clock=time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        self._organization: tuple[float, str] | None = None
        self.find_station = Batcher(self._stations_of)
        self.find_certificate_record = Batcher(self._records_of)

    def station(self, identity: str) -> StationView | None:
        with read_connection(self._engine) as connection:
            return _stations(connection, [identity]).get(identity)

    def _stations_of(self, identities: list[str]) -> list[StationView | None]:
        with read_connection(self._engine) as connection:
            found = _stations(connection, identities)
        return [found.get(identity) for identity in identities]

    def organization(self) -> str:
        cached = self._organization
        if cached is not None and self._clock() - cached[0] < ORGANIZATION_TTL:
            return cached[1]
        with read_scope(self._engine) as session:
            name = organization(session)
        self._organization = (self._clock(), name)
        return name

    def certificate_record(self, ca_id: str, serial_hex: str) -> CertificateRecord | None:
        with read_connection(self._engine) as connection:
            return _certificate_records(connection, [(ca_id, serial_hex)]).get((ca_id, serial_hex))

    def _records_of(self, keys: list[tuple[str, str]]) -> list[CertificateRecord | None]:
        with read_connection(self._engine) as connection:
            found = _certificate_records(connection, keys)
        return [found.get(key) for key in keys]

    def write_refusals(self, rows: Sequence[RefusalRow]) -> list[int]:
        """Aggregated refusals (api/ocpp/admission/refusal_log.py): insert new rows, update counted ones."""
        with session_scope(self._engine) as session:
            events = []
            for row in rows:
                event = session.get(SecurityEvent, row.row_id) if row.row_id is not None else None
                if event is None:  # new, or pruned meanwhile
                    event = SecurityEvent(source="csms", type=row.event_type, occurred_at=row.first_seen)
                event.station_id = row.station_id
                event.source_address = row.source_address[:64] if row.source_address else None
                event.last_seen_at = row.last_seen
                event.occurrences = row.occurrences
                event.tech_info = row.tech_info[:_TECH_INFO_MAX]
                event.critical = row.critical
                session.add(event)
                events.append(event)
            session.flush()
            return [event.id for event in events]

    def commit(self, admitted: Admitted) -> None:
        if not admitted.settles_anything:
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
