"""Migration 0021 on real SQLite and PostgreSQL: the rows of meter_value (one per sampled value)
become rows of meter_reading (one per MeterValue), each reading's values in the order stored and
signed text unchanged; the downgrade gives the same rows back."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from migrated_template import back_at

from api.csms.meter_values.service import sampled_values
from storage.db import session_scope
from storage.meter_values import MeterReading
from storage.types import UtcDateTime

pytestmark = pytest.mark.fast

_TIME = ("sampled_at", "received_at")
_COLUMNS = ("id", "station_id", "evse_id", "transaction_pk", "transaction_id", "sampled_at", "received_at",
            "measurand", "context", "value", "phase", "location", "unit", "multiplier", "signed_meter_data",
            "signing_method", "encoding_method", "public_key")
_OLD = sa.table("meter_value", *(sa.column(name, UtcDateTime(timezone=True)) if name in _TIME else sa.column(name)
                                 for name in _COLUMNS))
T1, T2 = datetime(2026, 11, 3, 10, tzinfo=timezone.utc), datetime(2026, 11, 3, 10, 15, tzinfo=timezone.utc)
R1 = datetime(2026, 11, 3, 10, 0, 1, 250000, tzinfo=timezone.utc)
R2 = datetime(2026, 11, 3, 10, 16, tzinfo=timezone.utc)
HOSTILE = 'OCMF|{"é":"\\u0041"}\t\n\\N €😀'


def _value(id_: int, at: datetime, received: datetime, value: float, **fields) -> dict:
    row = {"id": id_, "station_id": "CS-1", "evse_id": 1, "transaction_pk": 7, "transaction_id": "tx-7",
           "sampled_at": at, "received_at": received, "measurand": "Energy.Active.Import.Register",
           "context": "Sample.Periodic", "value": value, "phase": None, "location": None, "unit": "Wh",
           "multiplier": 0, "signed_meter_data": None, "signing_method": None, "encoding_method": None,
           "public_key": None}
    return {**row, **fields}


OLD_ROWS = [
    # One MeterValue of two sampled values ...
    _value(1, T1, R1, 1200.5),
    _value(2, T1, R1, 16.2, measurand="Current.Import", phase="L1", location="Outlet", unit="A"),
    # ... one signed, without a transaction ...
    _value(3, T2, R2, 1.3, transaction_pk=None, transaction_id=None, unit="kWh", multiplier=1,
           signed_meter_data=HOSTILE, signing_method="ECDSA-secp256r1-SHA256", encoding_method="OCMF",
           public_key="MFkw+/=="),
    # ... and the first one's time again, received later: another reading.
    _value(4, T1, R2, 1300.0),
]


def test_meter_values_become_readings_and_come_back(db_url):
    with back_at(db_url, "0020") as (config, engine):
        with engine.begin() as connection:
            connection.execute(_OLD.insert(), OLD_ROWS)
        command.upgrade(config, "head")
        with session_scope(engine) as session:
            readings = list(session.exec(sa.select(MeterReading).order_by(MeterReading.id)).scalars())
            values = [sampled_values(reading) for reading in readings]
        assert [(r.sampled_at, r.received_at, r.transaction_pk, r.sampled_count) for r in readings] == [
            (T1, R1, 7, 2), (T2, R2, None, 1), (T1, R2, 7, 1)]
        assert [[(v.measurand, v.value, v.phase, v.location, v.unit, v.multiplier, v.position) for v in reading]
                for reading in values] == [
            [("Energy.Active.Import.Register", 1200.5, None, None, "Wh", 0, 0),
             ("Current.Import", 16.2, "L1", "Outlet", "A", 0, 1)],
            [("Energy.Active.Import.Register", 1.3, None, None, "kWh", 1, 0)],
            [("Energy.Active.Import.Register", 1300.0, None, None, "Wh", 0, 0)]]
        (signed,) = values[1]
        assert (signed.signed_meter_data, signed.public_key) == (HOSTILE, "MFkw+/==")

        command.downgrade(config, "0020")
        with engine.connect() as connection:
            back = [dict(row) for row in connection.execute(sa.select(_OLD).order_by(_OLD.c.id)).mappings()]
        assert [{**row, "id": None} for row in back] == [{**row, "id": None} for row in OLD_ROWS]
