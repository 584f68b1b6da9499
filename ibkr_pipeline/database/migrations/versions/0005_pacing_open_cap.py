"""pacing requests say whether IB's hard windows apply: every request counts against the cap of 50 open
historical requests across processes, only small bars against the windows

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 14:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pacing_requests") as batch:
        batch.add_column(sa.Column("hard", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("pacing_requests") as batch:
        batch.drop_column("hard")
