"""customer information, monitoring, events, display messages (blocks N, O)

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time() -> storage.types.UtcDateTime:
    return storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'report_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('kind', _text(24), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('subject', _text(4000), nullable=False),
        sa.Column('status', _text(24), nullable=False),
        sa.Column('parts', sa.Integer(), nullable=False),
        sa.Column('next_seq_no', sa.Integer(), nullable=False),
        sa.Column('gap', sa.Boolean(), nullable=False),
        sa.Column('complete', sa.Boolean(), nullable=False),
        sa.Column('requested_by', _text(100), nullable=False),
        sa.Column('requested_at', _time(), nullable=False),
        sa.Column('answered_at', _time(), nullable=True),
        sa.Column('last_part_at', _time(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'kind', 'request_id', name='uq_report_request_station_kind_id'),
    )
    op.create_index('ix_report_request_station_id', 'report_request', ['station_id'])
    op.create_table(
        'customer_information_part',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('seq_no', sa.Integer(), nullable=False),
        sa.Column('tbc', sa.Boolean(), nullable=False),
        sa.Column('data', _text(512), nullable=False),
        sa.Column('generated_at', _time(), nullable=False),
        sa.Column('received_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('report_id', 'seq_no', name='uq_customer_information_part_seq'),
    )
    op.create_index('ix_customer_information_part_report_id', 'customer_information_part', ['report_id'])
    op.create_table(
        'variable_monitor',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('monitor_id', sa.Integer(), nullable=True),
        sa.Column('component_name', _text(50), nullable=False),
        sa.Column('component_instance', _text(50), nullable=True),
        sa.Column('evse_id', sa.Integer(), nullable=True),
        sa.Column('connector_id', sa.Integer(), nullable=True),
        sa.Column('variable_name', _text(50), nullable=False),
        sa.Column('variable_instance', _text(50), nullable=True),
        sa.Column('type', _text(24), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.Column('severity', sa.Integer(), nullable=False),
        sa.Column('transaction', sa.Boolean(), nullable=False),
        sa.Column('source', _text(10), nullable=False),
        sa.Column('status', _text(24), nullable=False),
        sa.Column('status_reason', _text(20), nullable=True),
        sa.Column('requested_by', _text(100), nullable=True),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_variable_monitor_station_id', 'variable_monitor', ['station_id'])
    op.create_table(
        'monitoring_setting',
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('monitoring_base', _text(16), nullable=True),
        sa.Column('base_status', _text(24), nullable=True),
        sa.Column('monitoring_level', sa.Integer(), nullable=True),
        sa.Column('level_status', _text(24), nullable=True),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('station_id'),
    )
    op.create_table(
        'station_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('timestamp', _time(), nullable=False),
        sa.Column('trigger', _text(10), nullable=False),
        sa.Column('cause', sa.Integer(), nullable=True),
        sa.Column('actual_value', _text(2500), nullable=False),
        sa.Column('tech_code', _text(50), nullable=True),
        sa.Column('tech_info', _text(500), nullable=True),
        sa.Column('cleared', sa.Boolean(), nullable=True),
        sa.Column('transaction_id', _text(36), nullable=True),
        sa.Column('variable_monitoring_id', sa.Integer(), nullable=True),
        sa.Column('event_notification_type', _text(24), nullable=False),
        sa.Column('component_name', _text(50), nullable=False),
        sa.Column('component_instance', _text(50), nullable=True),
        sa.Column('evse_id', sa.Integer(), nullable=True),
        sa.Column('connector_id', sa.Integer(), nullable=True),
        sa.Column('variable_name', _text(50), nullable=False),
        sa.Column('variable_instance', _text(50), nullable=True),
        sa.Column('severity', sa.Integer(), nullable=True),
        sa.Column('received_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_station_event_station_id', 'station_event', ['station_id'])
    op.create_index('ix_station_event_station_time', 'station_event', ['station_id', 'timestamp'])
    op.create_table(
        'display_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('priority', _text(16), nullable=False),
        sa.Column('state', _text(16), nullable=True),
        sa.Column('start_at', _time(), nullable=True),
        sa.Column('end_at', _time(), nullable=True),
        sa.Column('transaction_id', _text(36), nullable=True),
        sa.Column('format', _text(8), nullable=False),
        sa.Column('language', _text(8), nullable=True),
        sa.Column('content', _text(512), nullable=False),
        sa.Column('display_component', _text(50), nullable=True),
        sa.Column('origin', _text(8), nullable=False),
        sa.Column('status', _text(28), nullable=False),
        sa.Column('status_reason', _text(20), nullable=True),
        sa.Column('requested_by', _text(100), nullable=True),
        sa.Column('reported_at', _time(), nullable=True),
        sa.Column('updated_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'message_id', name='uq_display_message_station_id'),
    )
    op.create_index('ix_display_message_station_id', 'display_message', ['station_id'])


def downgrade() -> None:
    op.drop_index('ix_display_message_station_id', table_name='display_message')
    op.drop_table('display_message')
    op.drop_index('ix_station_event_station_id', table_name='station_event')
    op.drop_index('ix_station_event_station_time', table_name='station_event')
    op.drop_table('station_event')
    op.drop_table('monitoring_setting')
    op.drop_index('ix_variable_monitor_station_id', table_name='variable_monitor')
    op.drop_table('variable_monitor')
    op.drop_index('ix_customer_information_part_report_id', table_name='customer_information_part')
    op.drop_table('customer_information_part')
    op.drop_index('ix_report_request_station_id', table_name='report_request')
    op.drop_table('report_request')
