"""hourly roll-ups count the samples within each duration bucket, for the report's latency SLO

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

``le_counts``: {"0.25": n, "1.0": n, ...}, how many of the hour's samples took at most each
bucket boundary of /metrics' duration histogram (config/slo.py LATENCY_BOUNDARIES). NULL in
the roll-ups made before it: the report leaves those hours out of the latency objective.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rollups_hourly", sa.Column("le_counts", sa.JSON(none_as_null=True)))


def downgrade() -> None:
    with op.batch_alter_table("rollups_hourly") as batch:
        batch.drop_column("le_counts")
