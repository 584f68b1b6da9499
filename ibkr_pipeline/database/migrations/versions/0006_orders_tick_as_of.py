"""orders record the instant their tick is as of; NULL marks rows named by the old scheme

Until this revision a tick's name (in ``orders.tick`` and in the orderRef) was its partition window's
start, one cron period before the tick ran. Since then it is the instant the tick runs, and that
instant is stored in ``tick_as_of``. Rows written before keep their names and a NULL here: the
orders step reads them to never send again, under its new name, a tick already traded under its old.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("tick_as_of", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("tick_as_of")
