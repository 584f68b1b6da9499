"""pacing budget: historical requests counted against IB's pacing windows by every process of a gateway

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pacing_gateways",
        sa.Column("gateway", sa.String(length=160), nullable=False),
        sa.Column("reservations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("gateway"),
    )
    op.create_table(
        "pacing_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gateway", sa.String(length=160), nullable=False),
        sa.Column("identical", sa.String(length=400), nullable=False),
        sa.Column("contract", sa.String(length=200), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("in_flight", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_pacing_requests_gateway"), "pacing_requests", ["gateway"], unique=False)
    op.create_index(op.f("ix_pacing_requests_at"), "pacing_requests", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pacing_requests_at"), table_name="pacing_requests")
    op.drop_index(op.f("ix_pacing_requests_gateway"), table_name="pacing_requests")
    op.drop_table("pacing_requests")
    op.drop_table("pacing_gateways")
