"""incidents, their timeline, the outbox; transitions get processed_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transitions") as batch:
        batch.add_column(sa.Column("processed_at", sa.DateTime(timezone=True)))
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(32), nullable=False, unique=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("severity", sa.Integer, nullable=False),
        sa.Column("severity_overridden", sa.Boolean, nullable=False),
        sa.Column("ticket", sa.String(128)),
        sa.Column("user_impact", sa.String(2000)),
        sa.Column("etr", sa.DateTime(timezone=True)),
        sa.Column("update_every", sa.Float),  # seconds; NULL = the platform's rule
        sa.Column("services", sa.JSON, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.String(128)),
        sa.Column("restored_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("last_customer_mail_at", sa.DateTime(timezone=True)),
        sa.Column("next_update_at", sa.DateTime(timezone=True)),
        sa.Column("updates_sent", sa.Integer, nullable=False),
        sa.Column("mails_sent", sa.Integer, nullable=False),
        sa.Column("oncall_next_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.Integer, nullable=False),  # compare-and-set on every change
    )
    op.create_index("ix_incidents_platform_state", "incidents", ["platform", "state"])
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_incident_events_incident", "incident_events", ["incident_id", "id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("thread", sa.String(64), nullable=False),  # "incident:12": delivered in id order
        sa.Column("incident_id", sa.Integer),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),  # customer | oncall
        sa.Column("channel", sa.String(16), nullable=False),  # mail | webhook
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("pending_recipients", sa.JSON, nullable=False),
        sa.Column("subject", sa.String(998), nullable=False),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.Column("body_html", sa.Text),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("in_reply_to", sa.String(255)),
        sa.Column("references", sa.String(2000)),
        sa.Column("state", sa.String(16), nullable=False),  # pending | sending | sent | failed
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(1000)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_notifications_state_due", "notifications", ["state", "next_attempt_at"])
    op.create_index("ix_notifications_thread", "notifications", ["thread", "id"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("incident_events")
    op.drop_table("incidents")
    with op.batch_alter_table("transitions") as batch:
        batch.drop_column("processed_at")
