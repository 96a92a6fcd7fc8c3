"""a patient's live entries summed per local day (entry_days), filled from the entries

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('entry_days',
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.Column('mood_sum', sa.Integer(), nullable=False),
    sa.Column('anxiety_sum', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_entry_days_patient_id_users')),
    sa.PrimaryKeyConstraint('patient_id', 'local_date', name=op.f('pk_entry_days'))
    )
    op.execute(
        "INSERT INTO entry_days (patient_id, local_date, entry_count, mood_sum, anxiety_sum) "
        "SELECT patient_id, local_date, count(*), sum(mood), sum(anxiety) FROM entries "
        "WHERE deleted_at IS NULL GROUP BY patient_id, local_date"
    )


def downgrade():
    op.drop_table('entry_days')
