"""per-station OCPP message log

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ocpp_message',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column('direction', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('at', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('frame', sa.Text(), nullable=False),
        sa.Column('truncated', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_ocpp_message_station_id', 'ocpp_message', ['station_id', 'id'])
    op.create_index('ix_ocpp_message_at', 'ocpp_message', ['at'])


def downgrade() -> None:
    op.drop_index('ix_ocpp_message_at', table_name='ocpp_message')
    op.drop_index('ix_ocpp_message_station_id', table_name='ocpp_message')
    op.drop_table('ocpp_message')
