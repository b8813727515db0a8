"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 05:07:51.431018
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_token',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('secret_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', storage.types.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit_entry',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('entry_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('prev_hash', name='uq_audit_entry_prev_hash')
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_actor'), ['actor'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_at'), ['at'], unique=False)

    op.create_table('certificate_authority',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('parent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('key_label', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('retired_at', storage.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('crl_number', sa.Integer(), nullable=False),
    sa.Column('crl_der', sa.LargeBinary(), nullable=True),
    sa.Column('crl_next_update', storage.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('crl_stale', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['certificate_authority.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('certificate_authority', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_authority_active'), ['active'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificate_authority_role'), ['role'], unique=False)

    op.create_table('security_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('occurred_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('received_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('tech_info', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('critical', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('security_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_event_critical'), ['critical'], unique=False)
        batch_op.create_index(batch_op.f('ix_security_event_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_security_event_station_id'), ['station_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_security_event_type'), ['type'], unique=False)

    op.create_table('station',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('security_profile', sa.Integer(), nullable=False),
    sa.Column('pending_security_profile', sa.Integer(), nullable=True),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('pending_password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('boot_policy', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('max_chain_size', sa.Integer(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('serial_number', sqlmodel.sql.sqltypes.AutoString(length=25), nullable=True),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('vendor_name', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
    sa.Column('firmware_version', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
    sa.Column('last_boot_at', storage.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_connected_at', storage.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('installed_certificate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('certificate_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('hash_algorithm', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('issuer_name_hash', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('issuer_key_hash', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('serial_number', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('reported_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['installed_certificate.id'], ),
    sa.ForeignKeyConstraint(['station_id'], ['station.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('installed_certificate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_installed_certificate_station_id'), ['station_id'], unique=False)

    op.create_table('issued_certificate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('serial_hex', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('subject_cn', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=True),
    sa.Column('not_before', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('not_after', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('public_key_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=False),
    sa.Column('key_label', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('superseded_by', sa.Integer(), nullable=True),
    sa.Column('revoked_at', storage.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('revocation_reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('created_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['certificate_authority.id'], ),
    sa.ForeignKeyConstraint(['superseded_by'], ['issued_certificate.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('issuer_id', 'serial_hex', name='uq_issued_certificate_serial')
    )
    with op.batch_alter_table('issued_certificate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issued_certificate_issuer_id'), ['issuer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issued_certificate_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_issued_certificate_not_after'), ['not_after'], unique=False)
        batch_op.create_index(batch_op.f('ix_issued_certificate_public_key_sha256'), ['public_key_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_issued_certificate_serial_hex'), ['serial_hex'], unique=False)
        batch_op.create_index(batch_op.f('ix_issued_certificate_station_id'), ['station_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_issued_certificate_status'), ['status'], unique=False)

    op.create_table('outbound_call',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', storage.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['station.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbound_call', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_call_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_call_purpose'), ['purpose'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_call_station_id'), ['station_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_call_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('outbound_call', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_call_status'))
        batch_op.drop_index(batch_op.f('ix_outbound_call_station_id'))
        batch_op.drop_index(batch_op.f('ix_outbound_call_purpose'))
        batch_op.drop_index(batch_op.f('ix_outbound_call_next_attempt_at'))

    op.drop_table('outbound_call')
    with op.batch_alter_table('issued_certificate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issued_certificate_status'))
        batch_op.drop_index(batch_op.f('ix_issued_certificate_station_id'))
        batch_op.drop_index(batch_op.f('ix_issued_certificate_serial_hex'))
        batch_op.drop_index(batch_op.f('ix_issued_certificate_public_key_sha256'))
        batch_op.drop_index(batch_op.f('ix_issued_certificate_not_after'))
        batch_op.drop_index(batch_op.f('ix_issued_certificate_kind'))
        batch_op.drop_index(batch_op.f('ix_issued_certificate_issuer_id'))

    op.drop_table('issued_certificate')
    with op.batch_alter_table('installed_certificate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_installed_certificate_station_id'))

    op.drop_table('installed_certificate')
    op.drop_table('station')
    with op.batch_alter_table('security_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_event_type'))
        batch_op.drop_index(batch_op.f('ix_security_event_station_id'))
        batch_op.drop_index(batch_op.f('ix_security_event_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_security_event_critical'))

    op.drop_table('security_event')
    with op.batch_alter_table('certificate_authority', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_authority_role'))
        batch_op.drop_index(batch_op.f('ix_certificate_authority_active'))

    op.drop_table('certificate_authority')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_at'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_actor'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_action'))

    op.drop_table('audit_entry')
    op.drop_table('api_token')
