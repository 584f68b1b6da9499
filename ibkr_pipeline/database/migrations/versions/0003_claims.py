"""claims: leases that let exactly one process send an orderRef, or trade a strategy, at a time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 13:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("owner", sa.String(length=160), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("claims")
