"""provisioning device model (block B): components, variables, attributes, characteristics, report parts, onboarding state, resets

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time() -> storage.types.UtcDateTime:
    return storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'device_variable',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('var_key', _text(240), nullable=False),
        sa.Column('component', _text(50), nullable=False),
        sa.Column('component_instance', _text(50), nullable=False),
        sa.Column('evse_id', sa.Integer(), nullable=False),
        sa.Column('connector_id', sa.Integer(), nullable=False),
        sa.Column('variable', _text(50), nullable=False),
        sa.Column('variable_instance', _text(50), nullable=False),
        sa.Column('unit', _text(16), nullable=True),
        sa.Column('data_type', _text(20), nullable=True),
        sa.Column('min_limit', sa.Float(), nullable=True),
        sa.Column('max_limit', sa.Float(), nullable=True),
        sa.Column('values_list', _text(1000), nullable=True),
        sa.Column('supports_monitoring', sa.Boolean(), nullable=True),
        sa.Column('report_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'var_key', name='uq_device_variable_key'),
    )
    op.create_index('ix_device_variable_station_component', 'device_variable',
                    ['station_id', 'component', 'variable'])
    op.create_table(
        'device_attribute',
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('var_key', _text(240), nullable=False),
        sa.Column('type', _text(8), nullable=False),
        sa.Column('value', _text(2500), nullable=True),
        sa.Column('mutability', _text(10), nullable=True),
        sa.Column('persistent', sa.Boolean(), nullable=True),
        sa.Column('constant', sa.Boolean(), nullable=True),
        sa.Column('source', _text(16), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('station_id', 'var_key', 'type'),
    )
    op.create_table(
        'device_report',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('kind', _text(16), nullable=False),
        sa.Column('report_base', _text(24), nullable=True),
        sa.Column('criteria', _text(4000), nullable=True),
        sa.Column('answer', _text(16), nullable=True),
        sa.Column('status', _text(12), nullable=False),
        sa.Column('parts', sa.Integer(), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.Column('last_seq_no', sa.Integer(), nullable=True),
        sa.Column('out_of_order', sa.Boolean(), nullable=False),
        sa.Column('missing', _text(1000), nullable=True),
        sa.Column('error', _text(500), nullable=True),
        sa.Column('requested_by', _text(100), nullable=False),
        sa.Column('requested_at', _time(), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'request_id', name='uq_device_report_request'),
    )
    op.create_index('ix_device_report_station_id', 'device_report', ['station_id'])
    op.create_table(
        'device_report_part',
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('seq_no', sa.Integer(), nullable=False),
        sa.Column('tbc', sa.Boolean(), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.Column('received_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('report_id', 'seq_no'),
    )
    op.create_table(
        'station_reset',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('type', _text(10), nullable=False),
        sa.Column('evse_id', sa.Integer(), nullable=True),
        sa.Column('status', _text(16), nullable=False),
        sa.Column('answer', _text(16), nullable=True),
        sa.Column('boot_reason', _text(24), nullable=True),
        sa.Column('requested_by', _text(100), nullable=False),
        sa.Column('requested_at', _time(), nullable=False),
        sa.Column('answered_at', _time(), nullable=True),
        sa.Column('rebooted_at', _time(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_station_reset_station_id', 'station_reset', ['station_id'])
    op.create_table(
        'network_profile_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('configuration_slot', sa.Integer(), nullable=False),
        sa.Column('security_profile', sa.Integer(), nullable=False),
        sa.Column('ocpp_csms_url', _text(512), nullable=False),
        sa.Column('ocpp_interface', _text(16), nullable=False),
        sa.Column('status', _text(16), nullable=False),
        sa.Column('requested_by', _text(100), nullable=False),
        sa.Column('requested_at', _time(), nullable=False),
        sa.Column('answered_at', _time(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_network_profile_request_station_id', 'network_profile_request', ['station_id'])
    op.create_table(
        'station_onboarding',
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('state', _text(12), nullable=False),
        sa.Column('report_request_id', sa.Integer(), nullable=True),
        sa.Column('detail', _text(4000), nullable=True),
        sa.Column('started_at', _time(), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('station_id'),
    )


def downgrade() -> None:
    op.drop_table('station_onboarding')
    op.drop_index('ix_network_profile_request_station_id', table_name='network_profile_request')
    op.drop_table('network_profile_request')
    op.drop_index('ix_station_reset_station_id', table_name='station_reset')
    op.drop_table('station_reset')
    op.drop_table('device_report_part')
    op.drop_index('ix_device_report_station_id', table_name='device_report')
    op.drop_table('device_report')
    op.drop_table('device_attribute')
    op.drop_index('ix_device_variable_station_component', table_name='device_variable')
    op.drop_table('device_variable')
