"""message log: frames found by time through a row per write instead of an index entry per frame

Revision ID: 0023
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

import storage.types

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

# The frames already logged get a batch per span of their ids (storage/message_log.py SPAN_IDS
# when this migration was written).
SPAN_IDS = 65536


def upgrade() -> None:
    op.create_table(
        'ocpp_message_batch',
        sa.Column('first_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('last_id', sa.BigInteger(), nullable=False),
        sa.Column('earliest', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column('latest', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('first_id'),
    )
    op.create_index('ix_ocpp_message_batch_earliest', 'ocpp_message_batch', ['earliest'])
    op.create_index('ix_ocpp_message_batch_latest', 'ocpp_message_batch', ['latest'])
    op.execute("INSERT INTO ocpp_message_batch (first_id, last_id, earliest, latest) "
               f"SELECT min(id), max(id), min(at), max(at) FROM ocpp_message GROUP BY id / {SPAN_IDS}")
    op.drop_index('ix_ocpp_message_at', table_name='ocpp_message')


def downgrade() -> None:
    op.create_index('ix_ocpp_message_at', 'ocpp_message', ['at'])
    op.drop_index('ix_ocpp_message_batch_latest', table_name='ocpp_message_batch')
    op.drop_index('ix_ocpp_message_batch_earliest', table_name='ocpp_message_batch')
    op.drop_table('ocpp_message_batch')
