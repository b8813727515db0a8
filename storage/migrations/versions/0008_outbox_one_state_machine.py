"""outbound_call: one state machine (pending → sent → answered | failed); "error" and "timeout" become "failed"

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # What ended an operator job is kept in error; the status says only that it ended unanswered.
    op.execute("UPDATE outbound_call SET error = COALESCE(error, 'timeout: no answer'), status = 'failed' "
               "WHERE status = 'timeout'")
    op.execute("UPDATE outbound_call SET status = 'failed' WHERE status = 'error'")


def downgrade() -> None:
    # "failed" rows cannot be told apart again; they stay "failed", which older versions read too.
    pass
