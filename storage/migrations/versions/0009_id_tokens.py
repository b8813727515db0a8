"""id tokens and local authorization lists (block C, D)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        'id_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('id_token', _text(36), nullable=False),
        sa.Column('lookup', _text(36), nullable=False),
        sa.Column('type', _text(20), nullable=False),
        sa.Column('status', _text(20), nullable=False),
        sa.Column('cache_expiry', storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column('group_id_token', _text(36), nullable=True),
        sa.Column('group_type', _text(20), nullable=True),
        sa.Column('evse_ids', sa.JSON(), nullable=True),
        sa.Column('language1', _text(8), nullable=True),
        sa.Column('language2', _text(8), nullable=True),
        sa.Column('message_format', _text(8), nullable=True),
        sa.Column('message_language', _text(8), nullable=True),
        sa.Column('message_content', _text(512), nullable=True),
        sa.Column('local_list', _text(100), nullable=True),
        sa.Column('created_at', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('lookup', 'type', name='uq_id_token_lookup_type'),
    )
    op.create_table(
        'master_pass_group',
        sa.Column('scope', _text(48), nullable=False),
        sa.Column('group_id_token', _text(36), nullable=False),
        sa.Column('updated_at', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('scope'),
    )
    op.create_table(
        'local_list_state',
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('reported_version', sa.Integer(), nullable=True),
        sa.Column('reported_at', storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column('items_per_message', sa.Integer(), nullable=True),
        sa.Column('bytes_per_message', sa.Integer(), nullable=True),
        sa.Column('last_update_type', _text(16), nullable=True),
        sa.Column('last_outcome', _text(32), nullable=True),
        sa.Column('last_sent_at', storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('station_id'),
    )
    op.create_table(
        'local_list_entry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', _text(48), nullable=False),
        sa.Column('id_token', _text(36), nullable=False),
        sa.Column('type', _text(20), nullable=False),
        sa.Column('info', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'id_token', 'type', name='uq_local_list_entry'),
    )
    op.create_index(op.f('ix_local_list_entry_station_id'), 'local_list_entry', ['station_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_local_list_entry_station_id'), table_name='local_list_entry')
    op.drop_table('local_list_entry')
    op.drop_table('local_list_state')
    op.drop_table('master_pass_group')
    op.drop_table('id_token')
