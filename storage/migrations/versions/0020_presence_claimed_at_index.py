"""presence: claims found by when they were made (each node's renewal reads the recent ones)

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_station_presence_claimed_at', 'station_presence', ['claimed_at'])


def downgrade() -> None:
    op.drop_index('ix_station_presence_claimed_at', table_name='station_presence')
