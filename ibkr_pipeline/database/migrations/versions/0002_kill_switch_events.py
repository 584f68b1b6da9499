"""kill switch events: the project-wide kill switch, shared by every process and container

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kill_switch_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("engaged", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_kill_switch_events_at"), "kill_switch_events", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_kill_switch_events_at"), table_name="kill_switch_events")
    op.drop_table("kill_switch_events")
