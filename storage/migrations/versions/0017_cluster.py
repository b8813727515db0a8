"""cluster: which node holds which station (presence, fencing epoch) and the nodes' leases

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cluster_node',
        sa.Column('node_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('process', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('lease_expires_at', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column('started_at', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('node_id'),
    )
    op.create_table(
        'station_presence',
        sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column('node_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('process', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column('epoch', sa.BigInteger(), nullable=False),
        sa.Column('claimed_at', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('station_id'),
    )
    op.create_index('ix_station_presence_node_id', 'station_presence', ['node_id'])


def downgrade() -> None:
    op.drop_index('ix_station_presence_node_id', table_name='station_presence')
    op.drop_table('station_presence')
    op.drop_table('cluster_node')
