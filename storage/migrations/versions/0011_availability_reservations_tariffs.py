"""connector status, reservations, tariffs (block G, H, I), remote starts (F)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time() -> storage.types.UtcDateTime:
    return storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'connector_state',
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('evse_id', sa.Integer(), nullable=False),
        sa.Column('connector_id', sa.Integer(), nullable=False),
        sa.Column('status', _text(32), nullable=True),
        sa.Column('problem', _text(110), nullable=True),
        sa.Column('problem_since', _time(), nullable=True),
        sa.Column('reported_at', _time(), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('station_id', 'evse_id', 'connector_id'),
    )
    op.create_table(
        'connector_status_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('evse_id', sa.Integer(), nullable=False),
        sa.Column('connector_id', sa.Integer(), nullable=False),
        sa.Column('kind', _text(20), nullable=False),
        sa.Column('value', _text(110), nullable=False),
        sa.Column('source', _text(24), nullable=False),
        sa.Column('reported_at', _time(), nullable=False),
        sa.Column('received_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_connector_status_event_station_id', 'connector_status_event', ['station_id'])
    op.create_table(
        'availability_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('evse_id', sa.Integer(), nullable=True),
        sa.Column('connector_id', sa.Integer(), nullable=True),
        sa.Column('operational_status', _text(16), nullable=False),
        sa.Column('answer', _text(16), nullable=True),
        sa.Column('requested_by', _text(100), nullable=False),
        sa.Column('requested_at', _time(), nullable=False),
        sa.Column('answered_at', _time(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_availability_change_station_id', 'availability_change', ['station_id'])
    op.create_table(
        'reservation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('reservation_id', sa.Integer(), nullable=False),
        sa.Column('evse_id', sa.Integer(), nullable=True),
        sa.Column('connector_type', _text(20), nullable=True),
        sa.Column('id_token', _text(36), nullable=False),
        sa.Column('id_token_type', _text(20), nullable=False),
        sa.Column('group_id_token', _text(36), nullable=True),
        sa.Column('expires_at', _time(), nullable=False),
        sa.Column('status', _text(16), nullable=False),
        sa.Column('transaction_id', _text(36), nullable=True),
        sa.Column('requested_by', _text(100), nullable=False),
        sa.Column('created_at', _time(), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'reservation_id', name='uq_reservation_station_id'),
    )
    op.create_index('ix_reservation_station_id', 'reservation', ['station_id'])
    op.create_table(
        'remote_start',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('remote_start_id', sa.Integer(), nullable=False),
        sa.Column('id_token', _text(36), nullable=False),
        sa.Column('id_token_type', _text(20), nullable=False),
        sa.Column('evse_id', sa.Integer(), nullable=True),
        sa.Column('with_charging_profile', sa.Boolean(), nullable=False),
        sa.Column('status', _text(16), nullable=False),
        sa.Column('status_reason', _text(20), nullable=True),
        sa.Column('transaction_id', _text(36), nullable=True),
        sa.Column('requested_by', _text(100), nullable=False),
        sa.Column('requested_at', _time(), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'remote_start_id', name='uq_remote_start_station_id'),
    )
    op.create_index('ix_remote_start_station_id', 'remote_start', ['station_id'])
    op.create_table(
        'tariff',
        sa.Column('scope', _text(48), nullable=False),
        sa.Column('currency', _text(3), nullable=False),
        sa.Column('price_per_kwh', _text(24), nullable=False),
        sa.Column('price_per_minute', _text(24), nullable=False),
        sa.Column('flat_fee', _text(24), nullable=False),
        sa.Column('updated_by', _text(100), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('scope'),
    )


def downgrade() -> None:
    op.drop_table('tariff')
    op.drop_index('ix_remote_start_station_id', table_name='remote_start')
    op.drop_table('remote_start')
    op.drop_index('ix_reservation_station_id', table_name='reservation')
    op.drop_table('reservation')
    op.drop_index('ix_availability_change_station_id', table_name='availability_change')
    op.drop_table('availability_change')
    op.drop_index('ix_connector_status_event_station_id', table_name='connector_status_event')
    op.drop_table('connector_status_event')
    op.drop_table('connector_state')
