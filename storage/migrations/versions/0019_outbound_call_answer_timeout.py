"""outbox: the answer timeout an operator gave a job, kept with it

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null: the gateway's call timeout.
    with op.batch_alter_table('outbound_call') as batch_op:
        batch_op.add_column(sa.Column('answer_timeout', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbound_call') as batch_op:
        batch_op.drop_column('answer_timeout')
