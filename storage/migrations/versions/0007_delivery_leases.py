"""outbound_call leases (owner node/process + expiry) and certificate_request (accepted CSRs)

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_node', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('lease_process', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', storage.types.UtcDateTime(timezone=True), nullable=True))
    op.create_table(
        'certificate_request',
        sa.Column('csr_pem', sa.Text(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column('certificate_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('accepted_at', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column('settled_at', storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column('delivery_id', sa.Integer(), nullable=True),
        sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(['station_id'], ['station.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('certificate_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_request_station_id'), ['station_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificate_request_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('certificate_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_request_status'))
        batch_op.drop_index(batch_op.f('ix_certificate_request_station_id'))
    op.drop_table('certificate_request')
    with op.batch_alter_table('outbound_call', schema=None) as batch_op:
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('lease_process')
        batch_op.drop_column('lease_node')
