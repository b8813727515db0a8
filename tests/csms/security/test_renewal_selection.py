"""Which stations the renewal scheduler picks (api/csms/security/renewal.py ``select_stations``),
on a fleet larger than one statement's list of ids, on both databases."""

from __future__ import annotations

import pytest
from certificate_rows import add_issuer, certificate_rows_read, station_certificate
from sqlmodel import Session

from api.csms.security.renewal import Selection, select_stations
from storage.certificates import CertStatus
from storage.db import make_engine
from storage.types import utcnow

STATIONS = 1201   # three lists of ids (storage.filters.KEYS_PER_STATEMENT)


def _fleet(session: Session) -> set[str]:
    """Every third station's current certificate expires within ten days; every third but one
    has an older, expiring certificate beside a current one that does not expire soon (the
    older one must not make it due). The stations due."""
    add_issuer(session)
    due = set()
    for n in range(STATIONS):
        station_id = f"CS-{n:05d}"
        if n % 3 == 0:
            session.add(station_certificate(station_id, f"{n}-a", CertStatus.ACTIVE, days_left=10 + n % 7))
            due.add(station_id)
        elif n % 3 == 1:
            session.add(station_certificate(station_id, f"{n}-a", CertStatus.ACTIVE, days_left=300))
        else:
            session.add(station_certificate(station_id, f"{n}-old", CertStatus.SUPERSEDED, days_left=10))
            session.add(station_certificate(station_id, f"{n}-a", CertStatus.ACTIVE, days_left=300))
    session.commit()
    return due


def test_the_stations_due_are_found_across_every_list_of_ids(engine):
    with Session(engine) as session:
        due = _fleet(session)
        picked = select_stations(session, Selection(expiring_within_days=30), utcnow())
    assert {record.station_id for record in picked} == due
    assert [(r.not_after, r.station_id) for r in picked] == sorted((r.not_after, r.station_id) for r in picked)
    assert all(record.status == CertStatus.ACTIVE for record in picked)


@pytest.mark.postgres
def test_the_selection_reads_each_certificate_a_few_times_not_once_per_station(postgres_url):
    """On PostgreSQL, before the table was analysed (a fleet just enrolled), ``station_id IN
    (SELECT …)`` was planned as a nested loop reading every station certificate once per station:
    1.6 million rows for these 1,601 certificates, 5.4 s for 2,100 stations in the gateway benchmark."""
    engine = make_engine(postgres_url)
    try:
        with Session(engine) as session:
            _fleet(session)
            select_stations(session, Selection(expiring_within_days=30), utcnow())
            read = certificate_rows_read(session)
    finally:
        engine.dispose()
    rows = STATIONS + STATIONS // 3
    assert read <= 10 * rows, f"{read} certificate rows read to select among {rows}"
