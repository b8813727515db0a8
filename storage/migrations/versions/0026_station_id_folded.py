"""station ids compared without case at registration: an index on lower(id)

Revision ID: 0026
Revises: 0025
"""
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_station_id_lower ON station (lower(id))")


def downgrade() -> None:
    op.execute("DROP INDEX ix_station_id_lower")
