"""transactions and meter values (block E, J)

charging_transaction, transaction_event, transaction_status_answer, meter_value. On PostgreSQL
meter_value is range-partitioned by received_at (storage/partitions.py): its primary key then
includes the partition key, and the partitions of this month and the next are made here (the
maintenance task makes later ones).

Revision ID: 0010
Revises: 0009
"""
from datetime import datetime, timezone

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time() -> storage.types.UtcDateTime:
    return storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'charging_transaction',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _string(48), nullable=False),
        sa.Column('transaction_id', _string(36), nullable=False),
        sa.Column('evse_id', sa.Integer(), nullable=True),
        sa.Column('connector_id', sa.Integer(), nullable=True),
        sa.Column('id_token', _string(36), nullable=True),
        sa.Column('id_token_type', _string(32), nullable=True),
        sa.Column('id_tokens_seen', sa.Text(), nullable=False),
        sa.Column('started_at', _time(), nullable=True),
        sa.Column('ended_at', _time(), nullable=True),
        sa.Column('start_trigger', _string(32), nullable=True),
        sa.Column('stop_trigger', _string(32), nullable=True),
        sa.Column('stopped_reason', _string(32), nullable=True),
        sa.Column('charging_state', _string(32), nullable=True),
        sa.Column('last_event_at', _time(), nullable=True),
        sa.Column('remote_start_id', sa.Integer(), nullable=True),
        sa.Column('reservation_id', sa.Integer(), nullable=True),
        sa.Column('time_spent_charging', sa.Integer(), nullable=True),
        sa.Column('meter_first_wh', sa.Float(), nullable=True),
        sa.Column('meter_first_at', _time(), nullable=True),
        sa.Column('meter_last_wh', sa.Float(), nullable=True),
        sa.Column('meter_last_at', _time(), nullable=True),
        sa.Column('energy_wh', sa.Float(), nullable=True),
        sa.Column('seq_min', sa.Integer(), nullable=True),
        sa.Column('seq_max', sa.Integer(), nullable=True),
        sa.Column('seq_received', sa.Integer(), nullable=False),
        sa.Column('seq_duplicates', sa.Integer(), nullable=False),
        sa.Column('events', sa.Integer(), nullable=False),
        sa.Column('offline_events', sa.Integer(), nullable=False),
        sa.Column('unknown_start', sa.Boolean(), nullable=False),
        sa.Column('created_at', _time(), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'transaction_id', name='uq_charging_transaction_station_tx'),
    )
    with op.batch_alter_table('charging_transaction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_charging_transaction_station_id'), ['station_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_charging_transaction_id_token'), ['id_token'], unique=False)
        batch_op.create_index(batch_op.f('ix_charging_transaction_started_at'), ['started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_charging_transaction_ended_at'), ['ended_at'], unique=False)

    op.create_table(
        'transaction_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('transaction_pk', sa.Integer(), nullable=False),
        sa.Column('station_id', _string(48), nullable=False),
        sa.Column('transaction_id', _string(36), nullable=False),
        sa.Column('seq_no', sa.Integer(), nullable=False),
        sa.Column('event_type', _string(32), nullable=False),
        sa.Column('trigger_reason', _string(32), nullable=False),
        sa.Column('timestamp', _time(), nullable=False),
        sa.Column('received_at', _time(), nullable=False),
        sa.Column('offline', sa.Boolean(), nullable=False),
        sa.Column('number_of_phases_used', sa.Integer(), nullable=True),
        sa.Column('cable_max_current', sa.Integer(), nullable=True),
        sa.Column('reservation_id', sa.Integer(), nullable=True),
        sa.Column('charging_state', _string(32), nullable=True),
        sa.Column('time_spent_charging', sa.Integer(), nullable=True),
        sa.Column('stopped_reason', _string(32), nullable=True),
        sa.Column('remote_start_id', sa.Integer(), nullable=True),
        sa.Column('id_token', _string(36), nullable=True),
        sa.Column('id_token_type', _string(32), nullable=True),
        sa.Column('evse_id', sa.Integer(), nullable=True),
        sa.Column('connector_id', sa.Integer(), nullable=True),
        sa.Column('duplicate', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['transaction_pk'], ['charging_transaction.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_transaction_event_tx_seq', 'transaction_event', ['transaction_pk', 'seq_no'], unique=False)

    op.create_table(
        'transaction_status_answer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _string(48), nullable=False),
        sa.Column('transaction_id', _string(36), nullable=True),
        sa.Column('messages_in_queue', sa.Boolean(), nullable=False),
        sa.Column('ongoing_indicator', sa.Boolean(), nullable=True),
        sa.Column('answered_at', _time(), nullable=False),
        sa.Column('asked_by', _string(255), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_transaction_status_answer_station_id'), 'transaction_status_answer', ['station_id'],
                    unique=False)

    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.create_table(
        'meter_value',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False, autoincrement=True),
        sa.Column('station_id', _string(48), nullable=False),
        sa.Column('evse_id', sa.Integer(), nullable=True),
        sa.Column('transaction_pk', sa.Integer(), nullable=True),
        sa.Column('transaction_id', _string(36), nullable=True),
        sa.Column('sampled_at', _time(), nullable=False),
        sa.Column('received_at', _time(), nullable=False),
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
        sa.Column('public_key', sa.Text(), nullable=True),
        # A partitioned table's unique keys must contain its partition key.
        sa.PrimaryKeyConstraint('id', 'received_at') if postgresql else sa.PrimaryKeyConstraint('id'),
        **({'postgresql_partition_by': 'RANGE (received_at)'} if postgresql else {}),
    )
    op.create_index('ix_meter_value_station_sampled', 'meter_value', ['station_id', 'sampled_at'], unique=False)
    op.create_index('ix_meter_value_transaction', 'meter_value', ['transaction_pk'], unique=False)
    op.create_index('ix_meter_value_received_at', 'meter_value', ['received_at'], unique=False)
    if postgresql:
        from storage.partitions import create_default_partition, ensure_partitions

        connection = op.get_bind()
        create_default_partition(connection, "meter_value")
        ensure_partitions(connection, datetime.now(timezone.utc), months_ahead=1, table="meter_value")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.drop_table('meter_value')  # its partitions go with it
    if postgresql:
        op.execute('DROP SCHEMA IF EXISTS "meter_value_partitions" CASCADE')
    op.drop_index(op.f('ix_transaction_status_answer_station_id'), table_name='transaction_status_answer')
    op.drop_table('transaction_status_answer')
    op.drop_index('ix_transaction_event_tx_seq', table_name='transaction_event')
    op.drop_table('transaction_event')
    with op.batch_alter_table('charging_transaction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_charging_transaction_ended_at'))
        batch_op.drop_index(batch_op.f('ix_charging_transaction_started_at'))
        batch_op.drop_index(batch_op.f('ix_charging_transaction_id_token'))
        batch_op.drop_index(batch_op.f('ix_charging_transaction_station_id'))
    op.drop_table('charging_transaction')
