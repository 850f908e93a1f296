"""outbox: superseded rows, the news each row tells, the relay that carried it

A customer update (or an on-call reminder) still undelivered when a newer one is queued is
kept as ``superseded`` and points at the row that carries its news on (``superseded_by``).
``news`` is what a row tells, as [{"at", "text"}], so that a newer row can carry it on;
``stands_for`` counts the notices a row stands for (reminders say how many). ``relay``
names the relay that delivered a mail (a fallback when the primary was down).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("news", sa.JSON))
        batch.add_column(sa.Column("stands_for", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("superseded_by", sa.Integer))
        batch.add_column(sa.Column("relay", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("relay")
        batch.drop_column("superseded_by")
        batch.drop_column("stands_for")
        batch.drop_column("news")
