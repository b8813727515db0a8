"""security_event: occurrences, last_seen_at, source_address (aggregated connection refusals)

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('security_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('occurrences', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('last_seen_at', storage.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('source_address', sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_security_event_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('security_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_event_received_at'))
        batch_op.drop_column('source_address')
        batch_op.drop_column('last_seen_at')
        batch_op.drop_column('occurrences')
