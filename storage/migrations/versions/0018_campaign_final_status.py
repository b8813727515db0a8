"""firmware campaigns: how long a station may go without a final firmware status

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null: the [firmware] policy's campaign_final_status_minutes.
    with op.batch_alter_table('firmware_campaign') as batch_op:
        batch_op.add_column(sa.Column('final_status_minutes', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('firmware_campaign') as batch_op:
        batch_op.drop_column('final_status_minutes')
