"""maintenance windows

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenances",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(32), nullable=False, unique=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("services", sa.JSON, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_impact", sa.Text, nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("announced_by", sa.String(128), nullable=False),
        sa.Column("successful", sa.Boolean),
        sa.Column("outcome_note", sa.Text),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("finished_by", sa.String(128)),
        sa.Column("mails_sent", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_maintenances_state", "maintenances", ["state", "starts_at"])


def downgrade() -> None:
    op.drop_table("maintenances")
