"""message log: a station's frames found through spans of ids instead of an index entry per frame

Revision ID: 0022
Revises: 0021
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

# storage/message_log.py SPAN_IDS when this migration was written: the spans it builds use it.
SPAN_IDS = 65536


def upgrade() -> None:
    op.create_table(
        'ocpp_message_span',
        sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column('span', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('station_id', 'span'),
    )
    op.execute(f"INSERT INTO ocpp_message_span (station_id, span) "
               f"SELECT DISTINCT station_id, id / {SPAN_IDS} FROM ocpp_message")
    op.drop_index('ix_ocpp_message_station_id', table_name='ocpp_message')


def downgrade() -> None:
    op.create_index('ix_ocpp_message_station_id', 'ocpp_message', ['station_id', 'id'])
    op.drop_table('ocpp_message_span')
