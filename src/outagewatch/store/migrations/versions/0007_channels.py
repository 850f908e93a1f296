"""paging and chat channels: channel rows in the outbox, pager alerts, inbound events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

(Helpers i13s and i14 add migrations in parallel: the lead re-chains down_revision.)
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        # A channel row names its channel (up to 40 characters), not only mail | webhook.
        batch.alter_column("channel", type_=sa.String(64), existing_type=sa.String(16))
        batch.add_column(sa.Column("details", sa.JSON))
    op.create_table(
        "channel_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("channel", "incident_id", name="uq_channel_alerts_channel_incident"),
    )
    op.create_index("ix_channel_alerts_dedup_key", "channel_alerts", ["dedup_key"])
    op.create_table(
        "inbound_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("source", "event_id", name="uq_inbound_events_source_event"),
    )


def downgrade() -> None:
    op.drop_table("inbound_events")
    op.drop_index("ix_channel_alerts_dedup_key", table_name="channel_alerts")
    op.drop_table("channel_alerts")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("details")
        batch.alter_column("channel", type_=sa.String(16), existing_type=sa.String(64))
