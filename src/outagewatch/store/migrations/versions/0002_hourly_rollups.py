"""hourly roll-ups of samples, kept 400 days for reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollups_hourly",
        sa.Column("platform", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("vantage", sa.String(64), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("bad_count", sa.Integer, nullable=False),
        sa.Column("p50", sa.Float, nullable=False),
        sa.Column("p95", sa.Float, nullable=False),
        sa.Column("max", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollups_hourly")
