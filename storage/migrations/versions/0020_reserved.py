"""reserved: filled by the change that needs it (kept so parallel branches chain in a fixed order)

Revision ID: 0020
Revises: 0019
"""

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
