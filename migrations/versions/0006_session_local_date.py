"""treatment sessions keep the patient's local day of the dose

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:30:00.000000

"""
from datetime import datetime
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('treatment_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('local_date', sa.Date(), nullable=True))

    # Existing sessions: the local day in the patient's zone now (the best record of where
    # they were; UTC for a patient without a profile); new sessions store it when recorded,
    # as entries do.
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT s.id, s.started_at, COALESCE(p.timezone, 'UTC') FROM treatment_sessions s "
            "LEFT JOIN patient_profiles p ON p.user_id = s.patient_id"
        )
    ).all()
    for session_id, started_at, zone in rows:
        if isinstance(started_at, str):  # SQLite hands back text
            started_at = datetime.fromisoformat(started_at)
        if started_at.tzinfo is None:
            started_at = started_at.replace(tzinfo=ZoneInfo("UTC"))
        day = started_at.astimezone(ZoneInfo(zone)).date()
        bind.execute(
            sa.text("UPDATE treatment_sessions SET local_date = :day WHERE id = :id"), {"day": day, "id": session_id}
        )

    with op.batch_alter_table('treatment_sessions', schema=None) as batch_op:
        batch_op.alter_column('local_date', existing_type=sa.Date(), nullable=False)


def downgrade():
    with op.batch_alter_table('treatment_sessions', schema=None) as batch_op:
        batch_op.drop_column('local_date')
