"""the panel's order key kept per patient (patient_panel) and each clinic's 7-day window

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:15:19.152834

"""
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

NO_MOOD = 99.0


def upgrade():
    op.create_table('panel_window',
    sa.Column('clinic_id', sa.String(length=36), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_panel_window_clinic_id_clinics')),
    sa.PrimaryKeyConstraint('clinic_id', name=op.f('pk_panel_window'))
    )
    op.create_table('patient_panel',
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('clinic_id', sa.String(length=36), nullable=False),
    sa.Column('open_critical', sa.Integer(), server_default='0', nullable=False),
    sa.Column('open_warning', sa.Integer(), server_default='0', nullable=False),
    sa.Column('mood_sum_7d', sa.Integer(), server_default='0', nullable=False),
    sa.Column('entries_7d', sa.Integer(), server_default='0', nullable=False),
    sa.Column('mood_key', sa.Float(), server_default='99.0', nullable=False),
    sa.Column('expected_wear_off_date', sa.Date(), nullable=True),
    sa.Column('changes', sa.Integer(), server_default='1', nullable=False),
    sa.Column('forecast_of_change', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_patient_panel_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_patient_panel_patient_id_users')),
    sa.PrimaryKeyConstraint('patient_id', name=op.f('pk_patient_panel'))
    )
    with op.batch_alter_table('patient_panel', schema=None) as batch_op:
        # The risk order, as the panel pages through it: an index range scan per page.
        batch_op.create_index(
            'ix_patient_panel_risk',
            ['clinic_id', sa.literal_column('open_critical').desc(), sa.literal_column('open_warning').desc(), 'mood_key', 'patient_id'],
            unique=False,
        )
        batch_op.create_index('ix_patient_panel_stale', ['clinic_id'], unique=False, postgresql_where=sa.text('changes <> forecast_of_change'), sqlite_where=sa.text('changes <> forecast_of_change'))
        batch_op.create_index('ix_patient_panel_wear_off', ['clinic_id', 'expected_wear_off_date', 'patient_id'], unique=False)

    # Every existing patient and clinic: alerts counted, the last 7 days' moods summed, every
    # forecast stale (changes 1, computed at 0: the worker's first tick computes them).
    bind = op.get_bind()
    since = datetime.now(timezone.utc) - timedelta(days=7)
    stored_since = since.replace(tzinfo=None) if bind.dialect.name == "sqlite" else since
    bind.execute(
        sa.text("INSERT INTO panel_window (clinic_id, since) SELECT id, :since FROM clinics"), {"since": stored_since}
    )
    bind.execute(
        sa.text(
            "INSERT INTO patient_panel (patient_id, clinic_id, open_critical, open_warning, mood_sum_7d, entries_7d, "
            "mood_key, changes, forecast_of_change) "
            "SELECT p.user_id, p.clinic_id, "
            " (SELECT count(*) FROM alerts a WHERE a.patient_id = p.user_id AND a.status IN ('open', 'acknowledged') "
            "  AND a.severity = 'critical'), "
            " (SELECT count(*) FROM alerts a WHERE a.patient_id = p.user_id AND a.status IN ('open', 'acknowledged') "
            "  AND a.severity = 'warning'), "
            " 0, 0, :no_mood, 1, 0 FROM patient_profiles p"
        ),
        {"no_mood": NO_MOOD},
    )
    sums = bind.execute(
        sa.text(
            "SELECT patient_id, sum(mood), count(*) FROM entries WHERE deleted_at IS NULL AND recorded_at >= :since "
            "GROUP BY patient_id"
        ),
        {"since": stored_since},
    ).all()
    for patient_id, mood_sum, n in sums:
        bind.execute(
            sa.text(
                "UPDATE patient_panel SET mood_sum_7d = :mood_sum, entries_7d = :n, mood_key = :key "
                "WHERE patient_id = :patient_id"
            ),
            {"mood_sum": int(mood_sum), "n": int(n), "key": int(mood_sum) / int(n), "patient_id": patient_id},
        )


def downgrade():
    with op.batch_alter_table('patient_panel', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_panel_wear_off')
        batch_op.drop_index('ix_patient_panel_stale', postgresql_where=sa.text('changes <> forecast_of_change'), sqlite_where=sa.text('changes <> forecast_of_change'))
        batch_op.drop_index('ix_patient_panel_risk')

    op.drop_table('patient_panel')
    op.drop_table('panel_window')
