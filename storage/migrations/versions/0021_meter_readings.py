"""meter values: a row per MeterValue (a reading) instead of a row per sampled value

meter_reading replaces meter_value: the sampled values of one MeterValue (one timestamp) go in one
row, as a JSON list (storage/meter_values.py). The rows of meter_value are copied over, those of
one reading (same station, EVSE, transaction, timestamp and arrival, written together) into one
row, their values in the order they were stored; the signed ones keep their text as it was. On
PostgreSQL meter_reading is partitioned by month of received_at as meter_value was, with a
partition for every month the copied rows arrived in.

Revision ID: 0021
Revises: 0020
"""
import json
from datetime import datetime, timezone
from itertools import groupby, islice

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

# A sampled value's fields in the JSON, in this order; those without a value are left out.
_SAMPLE = ('measurand', 'context', 'value', 'phase', 'location', 'unit', 'multiplier', 'signed_meter_data',
           'signing_method', 'encoding_method', 'public_key')
_READING = ('station_id', 'evse_id', 'transaction_pk', 'transaction_id', 'sampled_at', 'received_at')
_CHUNK = 5000
_dumps = json.JSONEncoder(separators=(',', ':')).encode

# Untyped: values go from one table to the other as the database holds them.
_old = sa.table('meter_value', *(sa.column(name) for name in ('id', *_READING, *_SAMPLE)))
_new = sa.table('meter_reading', *(sa.column(name) for name in ('id', *_READING, 'sampled_count',
                                                                 'sampled_values')))


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time() -> storage.types.UtcDateTime:
    return storage.types.UtcDateTime(timezone=True)


def _partitioned(table: str, columns: list[sa.Column], indexes: dict[str, list[str]], copied_from: str) -> None:
    """``table`` as meter_value was made (0010), with ``columns`` of its own; ``copied_from`` is the
    table its rows will come from."""
    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.create_table(
        table,
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False, autoincrement=True),
        sa.Column('station_id', _string(48), nullable=False),
        sa.Column('evse_id', sa.Integer(), nullable=True),
        sa.Column('transaction_pk', sa.Integer(), nullable=True),
        sa.Column('transaction_id', _string(36), nullable=True),
        sa.Column('sampled_at', _time(), nullable=False),
        sa.Column('received_at', _time(), nullable=False),
        *columns,
        # A partitioned table's unique keys must contain its partition key.
        sa.PrimaryKeyConstraint('id', 'received_at') if postgresql else sa.PrimaryKeyConstraint('id'),
        **({'postgresql_partition_by': 'RANGE (received_at)'} if postgresql else {}),
    )
    for name, indexed in indexes.items():
        op.create_index(name, table, indexed, unique=False)
    if postgresql:
        from storage.partitions import create_default_partition, ensure_partitions

        connection = op.get_bind()
        create_default_partition(connection, table)
        # A partition for every month rows already arrived in (copied next), and the next one.
        now = datetime.now(timezone.utc)
        first = connection.execute(sa.text(f'SELECT min(received_at) FROM {copied_from}')).scalar()
        first = min(first, now) if first is not None else now
        months = (now.year - first.year) * 12 + now.month - first.month
        ensure_partitions(connection, first, months_ahead=months + 1, table=table)


def _drop_partitioned(table: str) -> None:
    op.drop_table(table)  # its partitions go with it
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'DROP SCHEMA IF EXISTS "{table}_partitions" CASCADE')


def _rows(table: sa.TableClause):
    """Every row of ``table`` in id order, a chunk at a time."""
    connection = op.get_bind()
    after = None
    while True:
        statement = sa.select(table).order_by(table.c.id).limit(_CHUNK)
        if after is not None:
            statement = statement.where(table.c.id > after)
        chunk = connection.execute(statement).mappings().all()
        yield from chunk
        if len(chunk) < _CHUNK:
            return
        after = chunk[-1]['id']


def upgrade() -> None:
    _partitioned('meter_reading', [sa.Column('sampled_count', sa.Integer(), nullable=False),
                                   sa.Column('sampled_values', sa.Text(), nullable=False)],
                 {'ix_meter_reading_station_sampled': ['station_id', 'sampled_at'],
                  'ix_meter_reading_transaction': ['transaction_pk'],
                  'ix_meter_reading_received_at': ['received_at']}, copied_from='meter_value')
    _insert(_new, _readings(_rows(_old)))
    _drop_partitioned('meter_value')


def _readings(values):
    """meter_reading's rows from meter_value's, in id order: one reading's values were written
    together, one after the other."""
    for key, same in groupby(values, key=lambda row: tuple(row[name] for name in _READING)):
        kept = [{name: row[name] for name in _SAMPLE if row[name] is not None} for row in same]
        yield {**dict(zip(_READING, key)), 'sampled_count': len(kept), 'sampled_values': _dumps(kept)}


def _values(readings):
    """meter_value's rows from meter_reading's: a row per sampled value."""
    for reading in readings:
        for sample in json.loads(reading['sampled_values']):
            yield {**{name: reading[name] for name in _READING}, **{name: sample.get(name) for name in _SAMPLE}}


def _insert(table: sa.TableClause, rows) -> None:
    """``rows`` into ``table``, ``_CHUNK`` at a time (a large table never sits in memory whole)."""
    connection = op.get_bind()
    while chunk := list(islice(rows, _CHUNK)):
        connection.execute(table.insert(), chunk)


def downgrade() -> None:
    _partitioned('meter_value', [
        sa.Column('measurand', _string(32), nullable=False),
        sa.Column('phase', _string(32), nullable=True),
        sa.Column('location', _string(32), nullable=True),
        sa.Column('context', _string(32), nullable=False),
        sa.Column('unit', _string(20), nullable=True),
        sa.Column('multiplier', sa.Integer(), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.Column('signed_meter_data', sa.Text(), nullable=True),
        sa.Column('signing_method', _string(50), nullable=True),
        sa.Column('encoding_method', _string(50), nullable=True),
        sa.Column('public_key', sa.Text(), nullable=True)],
        {'ix_meter_value_station_sampled': ['station_id', 'sampled_at'],
         'ix_meter_value_transaction': ['transaction_pk'],
         'ix_meter_value_received_at': ['received_at']}, copied_from='meter_reading')
    _insert(_old, _values(_rows(_new)))
    _drop_partitioned('meter_reading')
