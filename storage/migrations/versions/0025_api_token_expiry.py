"""API tokens may expire: expires_at, null for a token valid until revoked

Revision ID: 0025
Revises: 0024
"""
import sqlalchemy as sa
from alembic import op

import storage.types

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('api_token', sa.Column('expires_at', storage.types.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('api_token', 'expires_at')
