"""Rows written by DriverWrite (driver-level executemany) read back as the Core statement's would,
on both databases: times, booleans, NULLs, text; an UPDATE touches only its row; a row that
lacks a parameter is refused by name before anything is written. Writes sent together in a
RoundTrip (one pipeline on PostgreSQL) are stored and counted alike, and fail alike."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

import storage.driver as driver
from storage.db import session_scope
from storage.device_model import DeviceVariable
from storage.driver import COPY_FROM, DriverWrite, RoundTrip
from storage.meter_values import MeterReading
from storage.transactions import Transaction

pytestmark = pytest.mark.fast

_AT = datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=timezone.utc)
_ROW = {"station_id": "CS-1", "evse_id": 1, "transaction_pk": None, "transaction_id": "tx-1", "received_at": _AT,
        "sampled_at": _AT, "sampled_count": 1, "sampled_values": '[{"value":1234.5}]'}


def _columns(row: MeterReading) -> dict:
    return {name: getattr(row, name) for name in _ROW}


def test_inserted_rows_read_back_as_a_core_insert_writes_them(engine):
    core, driver = dict(_ROW, transaction_id="core"), dict(_ROW, transaction_id="driver")
    with session_scope(engine) as session:
        session.connection().execute(insert(MeterReading.__table__), [core])
        DriverWrite(insert(MeterReading.__table__)).run(session.connection(), [driver, dict(driver, sampled_count=2)])
    with session_scope(engine) as session:
        rows = {row.transaction_id + str(row.sampled_count): _columns(row)
                for row in session.exec(select(MeterReading))}
    assert rows["driver1"] == {**rows["core1"], "transaction_id": "driver"}
    assert rows["driver1"]["sampled_at"] == _AT and rows["driver2"]["sampled_count"] == 2
    # Stored alike, not only read back alike: a range query compares what is stored.
    with session_scope(engine) as session:
        stored = session.connection().execute(text("SELECT DISTINCT sampled_at, received_at FROM meter_reading")).all()
    assert len(stored) == 1


def test_text_a_bulk_write_format_treats_specially_is_stored_exactly(engine):
    # On PostgreSQL the rows go by COPY, whose text format gives tabs, newlines, backslashes and
    # \N meanings of their own; a signed meter value must still be kept byte for byte (E02).
    hostile = 'OCMF|{"RD":[{"TM":"2026-03-01T12:30:15,000+0000 S"}]}\t\n\r\\N\\\\x00 \'é€😀"\n\\.\n'
    rows = [dict(_ROW, sampled_values=hostile, station_id="\\N", evse_id=None, transaction_id=f"tx-{n}\t")
            for n in range(3)]
    with session_scope(engine) as session:
        assert DriverWrite(insert(MeterReading.__table__)).run(session.connection(), rows) == 3
    with session_scope(engine) as session:
        stored = session.exec(select(MeterReading).order_by(MeterReading.transaction_id)).all()
    assert [(row.sampled_values, row.station_id, row.evse_id, row.transaction_id) for row in stored] == \
        [(hostile, "\\N", None, f"tx-{n}\t") for n in range(3)]


def test_an_update_sets_its_columns_on_its_row_only(engine):
    with session_scope(engine) as session:
        for tx in ("tx-1", "tx-2"):
            session.add(Transaction(station_id="CS-1", transaction_id=tx))
    with session_scope(engine) as session:
        ids = {row.transaction_id: row.id for row in session.exec(select(Transaction))}
        table = Transaction.__table__
        write = DriverWrite(update(table).where(table.c.id == bindparam("row_pk"))
                            .values(ended_at=bindparam("ended_at"), unknown_start=bindparam("unknown_start")))
        write.run(session.connection(), [{"row_pk": ids["tx-2"], "ended_at": _AT, "unknown_start": True}])
    with session_scope(engine) as session:
        rows = {row.transaction_id: row for row in session.exec(select(Transaction))}
    assert (rows["tx-2"].ended_at, rows["tx-2"].unknown_start) == (_AT, True)
    assert (rows["tx-1"].ended_at, rows["tx-1"].unknown_start) == (None, False)


def test_a_row_without_a_parameter_is_refused_by_name_and_nothing_is_written(engine):
    table = Transaction.__table__
    write = DriverWrite(update(table).where(table.c.id == bindparam("row_pk")).values(ended_at=bindparam("ended_at")))
    with pytest.raises(ValueError, match="row_pk"):
        with session_scope(engine) as session:
            write.run(session.connection(), [{"ended_at": _AT}])


def test_times_shared_by_many_rows_are_stored_per_row_and_a_naive_one_is_still_refused(engine):
    # One call converts each distinct time once: the rows must still get their own, an instant
    # given in another zone must be stored as the same UTC time, and a naive time that equals an
    # aware one field for field must not borrow its conversion.
    later = datetime(2026, 3, 1, 14, 30, 15, 250000, tzinfo=timezone(timedelta(hours=2)))  # == _AT
    other = datetime(2026, 3, 2, tzinfo=timezone.utc)
    rows = [dict(_ROW, transaction_id=f"tx-{n}", sampled_at=at) for n, at in enumerate((_AT, other, later, _AT))]
    with session_scope(engine) as session:
        DriverWrite(insert(MeterReading.__table__)).run(session.connection(), rows)
    with session_scope(engine) as session:
        stored = dict(session.connection().execute(text("SELECT transaction_id, sampled_at FROM meter_reading")).all())
        read = {row.transaction_id: row.sampled_at for row in session.exec(select(MeterReading))}
    assert read == {"tx-0": _AT, "tx-1": other, "tx-2": _AT, "tx-3": _AT}
    assert stored["tx-0"] == stored["tx-2"] == stored["tx-3"] != stored["tx-1"]
    naive = dict(_ROW, sampled_at=_AT.replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive"):
        with session_scope(engine) as session:
            DriverWrite(insert(MeterReading.__table__)).run(session.connection(), [dict(_ROW), naive])


def test_a_row_the_database_refuses_fails_the_write_and_leaves_none_of_its_rows(engine):
    rows = [dict(_ROW, transaction_id="kept-if-partial"), dict(_ROW, station_id=None)]   # station_id NOT NULL
    with pytest.raises(Exception) as refused:
        with session_scope(engine) as session:
            DriverWrite(insert(MeterReading.__table__)).run(session.connection(), rows)
    assert "null" in str(refused.value).lower()
    with session_scope(engine) as session:
        assert session.exec(select(MeterReading)).all() == []


def test_an_insert_on_conflict_updates_the_row_that_is_there(engine):
    # On PostgreSQL a plain INSERT goes by COPY, which cannot update a row: an upsert must not.
    table = DeviceVariable.__table__
    statement = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(table)
    upsert = DriverWrite(statement.on_conflict_do_update(index_elements=["station_id", "var_key"],
                                                         set_={"unit": statement.excluded.unit}))
    row = {"station_id": "CS-1", "var_key": "k", "component": "C", "component_instance": "", "evse_id": 0,
           "connector_id": 0, "variable": "V", "variable_instance": "", "unit": "W", "updated_at": _AT}
    with session_scope(engine) as session:
        upsert.run(session.connection(), [row])
    with session_scope(engine) as session:
        upsert.run(session.connection(), [dict(row, unit="kW"), dict(row, var_key="other")])
    with session_scope(engine) as session:
        stored = {v.var_key: v.unit for v in session.exec(select(DeviceVariable))}
    assert stored == {"k": "kW", "other": "W"}


def _two_transactions(engine) -> dict[str, int]:
    with session_scope(engine) as session:
        for tx in ("tx-1", "tx-2"):
            session.add(Transaction(station_id="CS-1", transaction_id=tx, events=3))
    with session_scope(engine) as session:
        return {row.transaction_id: row.id for row in session.exec(select(Transaction))}


_TABLE = Transaction.__table__
_UPDATE_IF_UNCHANGED = DriverWrite(update(_TABLE).where(_TABLE.c.id == bindparam("row_pk"),
                                                        _TABLE.c.events == bindparam("events_before"))
                                   .values(events=bindparam("events")))


def test_writes_sent_in_one_round_trip_are_stored_and_counted(engine):
    ids = _two_transactions(engine)
    with session_scope(engine) as session:
        with RoundTrip(session.connection()) as trip:
            # tx-2's row changed since it was read (3 events now, not 4): the count says so, as a lone write's would.
            updated = trip.write(_UPDATE_IF_UNCHANGED, [{"row_pk": ids["tx-1"], "events_before": 3, "events": 4},
                                                        {"row_pk": ids["tx-2"], "events_before": 4, "events": 5}])
            inserted = trip.write(DriverWrite(insert(MeterReading.__table__)),
                                  [dict(_ROW, transaction_id=f"tx-{n}") for n in range(3)])
            nothing = trip.write(DriverWrite(insert(MeterReading.__table__)), [])
        assert (updated.value, inserted.value, nothing.value) == (1, 3, 0)
    with session_scope(engine) as session:
        assert {row.transaction_id: row.events for row in session.exec(select(Transaction))} == {"tx-1": 4, "tx-2": 3}
        assert sorted(row.transaction_id for row in session.exec(select(MeterReading))) == ["tx-0", "tx-1", "tx-2"]


def test_an_insert_of_many_rows_in_a_round_trip_is_stored_and_counted_and_one_bad_row_keeps_nothing(engine):
    # From COPY_FROM rows on, PostgreSQL takes them as a COPY after the pipeline.
    ids = _two_transactions(engine)
    many = [dict(_ROW, transaction_id=f"tx-{n}") for n in range(COPY_FROM + 5)]
    with session_scope(engine) as session:
        with RoundTrip(session.connection()) as trip:
            updated = trip.write(_UPDATE_IF_UNCHANGED, [{"row_pk": ids["tx-1"], "events_before": 3, "events": 4}])
            inserted = trip.write(DriverWrite(insert(MeterReading.__table__)), many)
        assert (updated.value, inserted.value) == (1, len(many))
    with pytest.raises(Exception) as refused:
        with session_scope(engine) as session:
            with RoundTrip(session.connection()) as trip:
                trip.write(_UPDATE_IF_UNCHANGED, [{"row_pk": ids["tx-2"], "events_before": 3, "events": 4}])
                trip.write(DriverWrite(insert(MeterReading.__table__)), [*many, dict(_ROW, station_id=None)])
    assert "null" in str(refused.value).lower()
    with session_scope(engine) as session:
        assert len(session.exec(select(MeterReading)).all()) == len(many)
        assert {row.transaction_id: row.events for row in session.exec(select(Transaction))} == {"tx-1": 4, "tx-2": 3}


def test_a_count_is_known_only_once_its_round_trip_has_ended(engine):
    ids = _two_transactions(engine)
    with session_scope(engine) as session:
        with RoundTrip(session.connection()) as trip:
            updated = trip.write(_UPDATE_IF_UNCHANGED, [{"row_pk": ids["tx-1"], "events_before": 3, "events": 4}])
            if engine.dialect.name == "postgresql":
                # Sent, not answered yet: a count read now would be a guess.
                with pytest.raises(RuntimeError, match="round trip"):
                    updated.value  # noqa: B018
            else:
                assert updated.value == 1  # SQLite runs each write as it is given
        assert updated.value == 1


def test_a_write_refused_in_a_round_trip_fails_it_and_keeps_nothing(engine):
    ids = _two_transactions(engine)
    with pytest.raises(Exception) as refused:
        with session_scope(engine) as session:
            with RoundTrip(session.connection()) as trip:
                trip.write(_UPDATE_IF_UNCHANGED, [{"row_pk": ids["tx-1"], "events_before": 3, "events": 4}])
                trip.write(DriverWrite(insert(MeterReading.__table__)), [dict(_ROW, station_id=None)])  # NOT NULL
    assert "null" in str(refused.value).lower()
    with session_scope(engine) as session:
        assert session.exec(select(MeterReading)).all() == []
        assert {row.events for row in session.exec(select(Transaction))} == {3}


def test_a_row_refused_before_sending_ends_the_round_trip_and_the_connection_serves_again(engine):
    ids = _two_transactions(engine)
    with pytest.raises(ValueError, match="row_pk"):
        with session_scope(engine) as session:
            with RoundTrip(session.connection()) as trip:
                trip.write(DriverWrite(insert(MeterReading.__table__)), [dict(_ROW)])
                trip.write(_UPDATE_IF_UNCHANGED, [{"events_before": 3, "events": 4}])
    with session_scope(engine) as session:
        assert session.exec(select(MeterReading)).all() == []
        with RoundTrip(session.connection()) as trip:
            updated = trip.write(_UPDATE_IF_UNCHANGED, [{"row_pk": ids["tx-2"], "events_before": 3, "events": 9}])
    assert updated.value == 1


def test_without_pipeline_support_each_write_goes_alone_and_counts_at_once(engine, monkeypatch):
    # A psycopg on a libpq older than 14 has no pipeline mode: the writes must still be made.
    if engine.dialect.name == "postgresql":
        import psycopg
        monkeypatch.setattr(psycopg.Pipeline, "is_supported", classmethod(lambda cls: False))
    ids = _two_transactions(engine)
    with session_scope(engine) as session:
        with RoundTrip(session.connection()) as trip:
            updated = trip.write(_UPDATE_IF_UNCHANGED, [{"row_pk": ids["tx-1"], "events_before": 3, "events": 4}])
            assert updated.value == 1
            trip.write(DriverWrite(insert(MeterReading.__table__)), [dict(_ROW)])
    with session_scope(engine) as session:
        assert len(session.exec(select(MeterReading)).all()) == 1


_SET_ENDED = DriverWrite(update(_TABLE).where(_TABLE.c.id == bindparam("row_pk"),
                                              _TABLE.c.events == bindparam("events_before"))
                         .values(events=bindparam("events"), ended_at=bindparam("ended_at"),
                                 stopped_reason=bindparam("stopped_reason")))


def _many_transactions(engine, count: int) -> list[int]:
    with session_scope(engine) as session:
        for n in range(count):
            session.add(Transaction(station_id="CS-1", transaction_id=f"tx-{n:03d}", events=3))
    with session_scope(engine) as session:
        return [row.id for row in session.exec(select(Transaction).order_by(Transaction.transaction_id))]


def _ended(ids: list[int], before: int, events: int, reason: str = "Local") -> list[dict]:
    return [{"row_pk": pk, "events_before": before, "events": events, "ended_at": _AT + timedelta(seconds=n),
             "stopped_reason": reason if n else 'Other\t\\N\n"é😀'} for n, pk in enumerate(ids)]


def _stored(engine) -> list[tuple]:
    with session_scope(engine) as session:
        return [(row.events, row.ended_at, row.stopped_reason)
                for row in session.exec(select(Transaction).order_by(Transaction.transaction_id))]


@pytest.mark.parametrize("temporary_tables", [True, False])
def test_an_update_of_many_rows_changes_the_rows_it_names_as_they_were_and_counts_them(engine, temporary_tables,
                                                                                        monkeypatch):
    # From COPY_FROM rows on, PostgreSQL takes an UPDATE's rows as a COPY into a temporary table
    # and one UPDATE … FROM it; where the session may not make one, as statements. Either way the
    # rows and the count are what each row's own statement gives.
    if not temporary_tables:
        monkeypatch.setattr(driver, "_may_make_temporary_tables", lambda connection: False)
    ids = _many_transactions(engine, COPY_FROM + 9)
    rows = _ended(ids, before=3, events=4)
    for stale in rows[::4]:
        stale["events_before"] = 2   # another writer's: 3 events now, not 2
    with session_scope(engine) as session:
        with RoundTrip(session.connection()) as trip:
            updated = trip.write(_SET_ENDED, rows)
        assert updated.value == len(rows) - len(rows[::4])
    stored = _stored(engine)
    for n, row in enumerate(rows):
        assert stored[n] == ((3, None, None) if n % 4 == 0 else (4, row["ended_at"], row["stopped_reason"]))


def test_updates_of_many_rows_in_one_transaction_each_apply_their_own_rows_only(engine):
    # The same rows three times in one transaction: 3 -> 4, back to 3, then 3 -> 9. Each write
    # sees its own rows only: with the first write's rows still in the temporary table, the third
    # would find two rows for each transaction, one of them the first's.
    ids = _many_transactions(engine, COPY_FROM)
    with session_scope(engine) as session:
        counts = [_SET_ENDED.run(session.connection(), _ended(ids, before=3, events=4)),
                  _SET_ENDED.run(session.connection(), _ended(ids, before=4, events=3)),
                  _SET_ENDED.run(session.connection(), _ended(ids, before=3, events=9, reason="EVDisconnected"))]
    assert counts == [len(ids)] * 3
    assert {row[0] for row in _stored(engine)} == {9}
    assert {row[2] for row in _stored(engine)[1:]} == {"EVDisconnected"}
