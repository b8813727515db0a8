"""file transfer and logs (block N01): one-time grants, uploaded files, log requests

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time() -> storage.types.UtcDateTime:
    return storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'file_grant',
        sa.Column('id', _text(32), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('direction', _text(8), nullable=False),
        sa.Column('purpose', _text(24), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('secret_hash', _text(64), nullable=False),
        sa.Column('file_name', _text(255), nullable=False),
        sa.Column('blob_path', _text(1024), nullable=True),
        sa.Column('max_bytes', sa.BigInteger(), nullable=True),
        sa.Column('created_at', _time(), nullable=False),
        sa.Column('expires_at', _time(), nullable=False),
        sa.Column('used_at', _time(), nullable=True),
        sa.Column('revoked_at', _time(), nullable=True),
        sa.Column('downloads', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_file_grant_station_id', 'file_grant', ['station_id'])
    op.create_index('ix_file_grant_expires_at', 'file_grant', ['expires_at'])
    op.create_table(
        'received_file',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('grant_id', _text(32), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('purpose', _text(24), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('file_name', _text(255), nullable=False),
        sa.Column('path', _text(1024), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('sha256', _text(64), nullable=False),
        sa.Column('protocol', _text(8), nullable=False),
        sa.Column('received_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('grant_id'),
    )
    op.create_index('ix_received_file_station_id', 'received_file', ['station_id'])
    op.create_index('ix_received_file_received_at', 'received_file', ['received_at'])
    op.create_index('ix_received_file_owner', 'received_file', ['purpose', 'station_id', 'request_id'])
    op.create_table(
        'log_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('log_type', _text(16), nullable=False),
        sa.Column('protocol', _text(8), nullable=True),
        sa.Column('grant_id', _text(32), nullable=True),
        sa.Column('max_bytes', sa.BigInteger(), nullable=True),
        sa.Column('oldest_timestamp', _time(), nullable=True),
        sa.Column('latest_timestamp', _time(), nullable=True),
        sa.Column('requested_by', _text(100), nullable=False),
        sa.Column('requested_at', _time(), nullable=False),
        sa.Column('answer', _text(24), nullable=True),
        sa.Column('answered_at', _time(), nullable=True),
        sa.Column('file_name', _text(255), nullable=True),
        sa.Column('status', _text(24), nullable=True),
        sa.Column('status_at', _time(), nullable=True),
        sa.Column('superseded_by', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'request_id', name='uq_log_request_station_request'),
    )
    op.create_index('ix_log_request_station_id', 'log_request', ['station_id'])
    op.create_index('ix_log_request_requested_at', 'log_request', ['requested_at'])
    op.create_table(
        'log_status_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=True),
        sa.Column('status', _text(24), nullable=False),
        sa.Column('received_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_log_status_event_station_id', 'log_status_event', ['station_id'])
    op.create_index('ix_log_status_event_received_at', 'log_status_event', ['received_at'])


def downgrade() -> None:
    op.drop_table('log_status_event')
    op.drop_table('log_request')
    op.drop_table('received_file')
    op.drop_table('file_grant')
