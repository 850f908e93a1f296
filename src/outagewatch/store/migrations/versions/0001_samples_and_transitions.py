"""samples and service state transitions

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("vantage", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("bad", sa.Boolean, nullable=False),
        sa.Column("error_kind", sa.String(16)),
        sa.Column("phases", sa.JSON, nullable=False),
        sa.Column("detail", sa.String(256), nullable=False),
    )
    op.create_index(
        "ix_samples_service_time", "samples", ["platform", "service", "vantage", "started_at"]
    )
    op.create_index("ix_samples_time", "samples", ["started_at"])
    op.create_table(
        "transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("vantage", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "platform", "service", "vantage", "kind", "started_at", name="uq_transition"
        ),
    )


def downgrade() -> None:
    op.drop_table("transitions")
    op.drop_index("ix_samples_time", "samples")
    op.drop_index("ix_samples_service_time", "samples")
    op.drop_table("samples")
