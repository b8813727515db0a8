"""firmware (block L): images, signing, update requests and statuses, campaigns

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time() -> storage.types.UtcDateTime:
    return storage.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'firmware_root',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sha256', _text(64), nullable=False),
        sa.Column('subject', _text(300), nullable=False),
        sa.Column('certificate_pem', sa.Text(), nullable=False),
        sa.Column('authority_id', _text(36), nullable=True),
        sa.Column('not_after', _time(), nullable=False),
        sa.Column('added_by', _text(100), nullable=False),
        sa.Column('created_at', _time(), nullable=False),
        sa.ForeignKeyConstraint(['authority_id'], ['certificate_authority.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sha256'),
    )
    op.create_table(
        'firmware_certificate_revocation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sha256', _text(64), nullable=False),
        sa.Column('subject', _text(300), nullable=False),
        sa.Column('reason', _text(500), nullable=False),
        sa.Column('revoked_by', _text(100), nullable=False),
        sa.Column('revoked_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sha256'),
    )
    op.create_table(
        'firmware_image',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', _text(200), nullable=False),
        sa.Column('version', _text(50), nullable=False),
        sa.Column('sha256', _text(64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('signature', _text(800), nullable=False),
        sa.Column('signing_certificate_pem', sa.Text(), nullable=False),
        sa.Column('signing_certificate_sha256', _text(64), nullable=False),
        sa.Column('root_id', sa.Integer(), nullable=False),
        sa.Column('signed_by', _text(16), nullable=False),
        sa.Column('uploaded_by', _text(100), nullable=False),
        sa.Column('created_at', _time(), nullable=False),
        sa.ForeignKeyConstraint(['root_id'], ['firmware_root.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_firmware_image_sha256', 'firmware_image', ['sha256'])
    op.create_index('ix_firmware_image_signing_certificate_sha256', 'firmware_image', ['signing_certificate_sha256'])
    op.create_table(
        'firmware_update',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('image_id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('location', _text(512), nullable=False),
        sa.Column('grant_id', _text(32), nullable=True),
        sa.Column('retrieve_at', _time(), nullable=False),
        sa.Column('install_at', _time(), nullable=True),
        sa.Column('answer', _text(32), nullable=True),
        sa.Column('status', _text(32), nullable=False),
        sa.Column('requested_by', _text(100), nullable=False),
        sa.Column('created_at', _time(), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.ForeignKeyConstraint(['image_id'], ['firmware_image.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'request_id', name='uq_firmware_update_request'),
    )
    op.create_index('ix_firmware_update_station_id', 'firmware_update', ['station_id'])
    op.create_index('ix_firmware_update_image_id', 'firmware_update', ['image_id'])
    op.create_index('ix_firmware_update_campaign_id', 'firmware_update', ['campaign_id'])
    op.create_table(
        'firmware_status_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=True),
        sa.Column('update_id', sa.Integer(), nullable=True),
        sa.Column('status', _text(32), nullable=False),
        sa.Column('received_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_firmware_status_event_station_id', 'firmware_status_event', ['station_id'])
    op.create_index('ix_firmware_status_event_update_id', 'firmware_status_event', ['update_id'])
    op.create_table(
        'firmware_campaign',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('image_id', sa.Integer(), nullable=False),
        sa.Column('station_filter', _text(200), nullable=False),
        sa.Column('per_minute', sa.Integer(), nullable=False),
        sa.Column('max_failures', sa.Integer(), nullable=False),
        sa.Column('install_delay_minutes', sa.Integer(), nullable=False),
        sa.Column('protocol', _text(8), nullable=False),
        sa.Column('status', _text(16), nullable=False),
        sa.Column('detail', _text(500), nullable=False),
        sa.Column('created_by', _text(100), nullable=False),
        sa.Column('created_at', _time(), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.ForeignKeyConstraint(['image_id'], ['firmware_image.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_firmware_campaign_status', 'firmware_campaign', ['status'])
    op.create_table(
        'firmware_campaign_station',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('state', _text(16), nullable=False),
        sa.Column('update_id', sa.Integer(), nullable=True),
        sa.Column('detail', _text(500), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['firmware_campaign.id']),
        sa.PrimaryKeyConstraint('campaign_id', 'station_id'),
    )
    op.create_table(
        'publish_firmware_status',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('status', _text(32), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=True),
        sa.Column('locations', sa.Text(), nullable=False),
        sa.Column('received_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_publish_firmware_status_station_id', 'publish_firmware_status', ['station_id'])


def downgrade() -> None:
    for table in ('publish_firmware_status', 'firmware_campaign_station', 'firmware_campaign',
                  'firmware_status_event', 'firmware_update', 'firmware_image', 'firmware_certificate_revocation',
                  'firmware_root'):
        op.drop_table(table)
