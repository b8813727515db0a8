"""station_disconnect: requests to close a station's live connections (revocation, kill switch)

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'station_disconnect',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('issuer_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column('serial_hex', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('keep_profile', sa.Integer(), nullable=True),
        sa.Column('created_at', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_station_disconnect_created_at', 'station_disconnect', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_station_disconnect_created_at', table_name='station_disconnect')
    op.drop_table('station_disconnect')
