"""journal marks: how far each process's journal of answered-before-stored entries is stored

Revision ID: 0024
Revises: 0023
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'journal_mark',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column('stored_through', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('journal_mark')
