"""session effects kept per session (session_effects), patient_panel.effects_epoch

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('patient_panel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effects_epoch', sa.Integer(), server_default='0', nullable=False))
    # Empty: each session's effect is stored the first time it is computed and settled.
    op.create_table('session_effects',
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('of_change', sa.Integer(), nullable=True),
    sa.Column('on_day', sa.Date(), nullable=True),
    sa.Column('baseline_mood', sa.Float(), nullable=True),
    sa.Column('baseline_anxiety', sa.Float(), nullable=True),
    sa.Column('effect_days', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_session_effects_patient_id_users')),
    sa.ForeignKeyConstraint(['session_id'], ['treatment_sessions.id'], name=op.f('fk_session_effects_session_id_treatment_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_session_effects'))
    )
    with op.batch_alter_table('session_effects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_effects_patient_id'), ['patient_id'], unique=False)


def downgrade():
    with op.batch_alter_table('session_effects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_effects_patient_id'))
    op.drop_table('session_effects')
    with op.batch_alter_table('patient_panel', schema=None) as batch_op:
        batch_op.drop_column('effects_epoch')
