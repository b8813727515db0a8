"""station: AdditionalRootCertificateCheck as reported, inventory refresh time

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

import storage.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER most things in place; PostgreSQL runs plain ALTERs.
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.add_column(sa.Column('additional_root_check', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('inventory_refreshed_at', storage.types.UtcDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.drop_column('inventory_refreshed_at')
        batch_op.drop_column('additional_root_check')
