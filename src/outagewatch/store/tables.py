"""The tables, in SQLAlchemy Core. Their history lives in migrations/versions/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware, got {value!r}")
        utc: datetime = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


class EpochMillis(TypeDecorator[datetime]):
    """An instant as whole milliseconds since 1970: 6 bytes in SQLite, 8 in PostgreSQL, where
    the text of a timestamp took 27 in SQLite. Finer parts of a millisecond are dropped."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return millis_of(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else EPOCH + int(value) * MILLISECOND


class Milliseconds(TypeDecorator[float]):
    """Seconds in the code, whole milliseconds in the store (a 17-digit float took 8 bytes)."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else to_millis(float(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> float | None:
        return None if value is None else int(value) / 1000


def to_millis(seconds: float) -> int:
    return int(seconds * 1000 + 0.5)  # half up, as the migration's SQL rounds


def millis_of(value: Any) -> int:
    """What EpochMillis stores: also for writers that hand the store plain numbers."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got {value!r}")
    return (value - EPOCH) // MILLISECOND


# A probe's error kind as a small number. Append only: the number stored is the position + 1,
# and migrations/versions/0006 converted the old text with this very order.
ERROR_KINDS = ("timeout", "refused", "dns", "tls", "protocol", "auth", "unexpected")


def error_code(kind: Any) -> int:
    """What ErrorCode stores: also for writers that hand the store plain numbers."""
    return ERROR_KINDS.index(str(kind)) + 1


class ErrorCode(TypeDecorator[str]):
    impl = SmallInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else error_code(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else ERROR_KINDS[int(value) - 1]


# One row per (platform, service, vantage), so that a sample names its series with a small
# number instead of three strings repeated in every row and again in the index.
series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(64), nullable=False),
    Column("service", String(64), nullable=False),
    Column("vantage", String(64), nullable=False),
    # What most good samples of the series say ("GET 200"): a good sample that says just that
    # stores no detail and reads it back from here.
    Column("usual_detail", String(256)),
    # The series' newest sample (greatest start, then id), kept by its writer: the API's
    # "last sample" and the detector's restore read it here instead of searching the samples.
    Column("newest_id", BigInteger),
    Column("newest_started_at", EpochMillis),
    UniqueConstraint("platform", "service", "vantage", name="uq_series"),
)

# About 30 bytes a sample in SQLite, 60 in PostgreSQL (its row header alone is 24), plus the
# indexes; the columns are in PostgreSQL's alignment order (8-byte ones first). The indexes
# differ per dialect (migrations/versions/0006, store/sqlite.py, store/postgres.py). SQLite:
# the id is the rowid, B-trees on (series_id, started_at) and on started_at. PostgreSQL,
# where every B-tree entry costs 20 to 40 bytes: a B-tree on series_id alone (deduplicated:
# a few bytes a sample), BRIN indexes on id and started_at (rows are appended in their
# order), and no primary-key B-tree on id (a sequence keeps it unique). Queries therefore
# bound ids or times, or go through ``series.newest_id``, rather than ask for max(...).
samples = Table(
    "samples",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("started_at", EpochMillis, nullable=False),
    Column("series_id", Integer, nullable=False),
    Column("duration", Milliseconds, nullable=False),
    Column("bad", Boolean, nullable=False),
    Column("error_kind", ErrorCode),  # NULL when the probe succeeded
    Column("detail", String(256)),  # NULL: the series' usual detail
    Column("phases", JSON(none_as_null=True)),  # milliseconds per phase, of bad samples only
    # Indexes: per dialect, SAMPLE_INDEXES_0006 in store/sqlite.py and store/postgres.py.
)
# A sample as a writer hands it to the backend's own INSERT (sqlite.py, postgres.py):
# started_at, series_id, duration, bad, error_kind, detail, phases, as the types above
# store them (phases as JSON text).
StoredSample = tuple[int, int, int, bool, int | None, str | None, str | None]
# A sample as the leader's detector reads it back: id, platform, service, vantage, start, bad.
# A sample as the leader's detector reads it back: id, platform, service, vantage,
# started_at, bad, duration (s), failed (an error kind), detail (None: the usual one).
NewSample = tuple[int, str, str, str, datetime, bool, float, bool, str | None]

# Service state changes as immutable rows: one "opened" and at most one "restored" per
# outage. ``vantage`` is "*" for the service-level verdict across vantages (quorum).
transitions = Table(
    "transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(64), nullable=False),
    Column("service", String(64), nullable=False),
    Column("vantage", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    # Set when the incident engine has acted on a service-level transition (claimed with
    # compare-and-set, so that a crash neither loses nor repeats its consequences).
    Column("processed_at", UtcDateTime),
    UniqueConstraint("platform", "service", "vantage", "kind", "started_at", name="uq_transition"),
)

rollups = Table(
    "rollups_hourly",
    metadata,
    Column("platform", String(64), primary_key=True),
    Column("service", String(64), primary_key=True),
    Column("vantage", String(64), primary_key=True),
    Column("hour", UtcDateTime, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("bad_count", Integer, nullable=False),
    Column("p50", Float, nullable=False),
    Column("p95", Float, nullable=False),
    Column("max", Float, nullable=False),
)

# An incident: the communication unit, one open per platform at a time (DESIGN section 4).
incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ref", String(32), nullable=False, unique=True),
    Column("platform", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("severity", Integer, nullable=False),
    Column("severity_overridden", Boolean, nullable=False),
    Column("ticket", String(128)),
    Column("user_impact", String(2000)),
    Column("etr", UtcDateTime),
    Column("update_every", Float),  # seconds; NULL = the platform's rule
    Column("services", JSON, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("acknowledged_at", UtcDateTime),
    Column("acknowledged_by", String(128)),
    Column("restored_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("last_customer_mail_at", UtcDateTime),
    Column("next_update_at", UtcDateTime),
    Column("updates_sent", Integer, nullable=False),
    Column("mails_sent", Integer, nullable=False),
    Column("oncall_next_at", UtcDateTime),
    Column("version", Integer, nullable=False),  # compare-and-set on every change
    Index("ix_incidents_platform_state", "platform", "state"),
)

incident_events = Table(
    "incident_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_incident_events_incident", "incident_id", "id"),
)

# The outbox: every notification is a row, rendered, before any attempt to send it.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("thread", String(64), nullable=False),  # "incident:12": delivered in id order
    Column("incident_id", Integer),
    Column("kind", String(32), nullable=False),
    Column("audience", String(16), nullable=False),  # customer | oncall
    Column("channel", String(64), nullable=False),  # mail, or the name of a channel
    Column("recipients", JSON, nullable=False),
    Column("pending_recipients", JSON, nullable=False),
    Column("subject", String(998), nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("in_reply_to", String(255)),
    Column("references", String(2000)),
    # pending | sending | sent | failed | superseded (a newer row carries its news on)
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_error", String(1000)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("claimed_at", UtcDateTime),
    Column("claimed_by", String(64)),
    Column("sent_at", UtcDateTime),
    # A channel message's facts (event, dedup key, severity, link): its transport's input.
    Column("details", JSON),
    Column("news", JSON),  # what this row tells: [{"at": ISO 8601, "text": ...}]
    Column("stands_for", Integer, nullable=False, server_default="1"),  # notices it carries
    Column("superseded_by", Integer),
    Column("relay", String(255)),  # host:port of the relay that delivered it
    Index("ix_notifications_state_due", "state", "next_attempt_at"),
    Index("ix_notifications_thread", "thread", "id"),
)

# API bearer tokens. Only a SHA-256 of each token is kept; the plaintext is shown once.
# A name stays taken after revocation, so an actor in the timeline names one token forever.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # viewer | oncall | admin
    Column("token_hash", String(64), nullable=False),  # hex SHA-256
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)

# Maintenance windows, planned or emergency, with their announcements (DESIGN section 5).
maintenances = Table(
    "maintenances",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ref", String(32), nullable=False, unique=True),
    Column("platform", String(64), nullable=False),
    Column("services", JSON, nullable=False),
    Column("kind", String(16), nullable=False),  # planned | emergency
    Column("state", String(16), nullable=False),  # scheduled | in_progress | finished | cancelled
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("expected_impact", Text, nullable=False),
    Column("announced_at", UtcDateTime, nullable=False),
    Column("announced_by", String(128), nullable=False),
    Column("successful", Boolean),
    Column("outcome_note", Text),
    Column("finished_at", UtcDateTime),
    Column("finished_by", String(128)),
    Column("mails_sent", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_maintenances_state", "state", "starts_at"),
)

# Which channel has heard of which incident: a pager's alert (its dedup key, kept so that a
# restart can still resolve it, and so that an inbound acknowledgement finds its incident),
# or the "opened" message of a chat. ``closed_at``: resolved, or "restored" said.
channel_alerts = Table(
    "channel_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("incident_id", Integer, nullable=False),
    Column("dedup_key", String(255), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    UniqueConstraint("channel", "incident_id", name="uq_channel_alerts_channel_incident"),
    Index("ix_channel_alerts_dedup_key", "dedup_key"),
)

# Inbound webhook events already acted on (PagerDuty's event id): a replay is ignored.
inbound_events = Table(
    "inbound_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    UniqueConstraint("source", "event_id", name="uq_inbound_events_source_event"),
)

# The certificate each vantage saw last per service (written when it changes), and what
# on-call was last told about a service's certificate (DESIGN section 10, "Probes").
tls_certificates = Table(
    "tls_certificates",
    metadata,
    Column("platform", String(64), primary_key=True),
    Column("service", String(64), primary_key=True),
    Column("vantage", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("facts", JSON, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False),
)

certificate_warnings = Table(
    "certificate_warnings",
    metadata,
    Column("platform", String(64), primary_key=True),
    Column("service", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("level", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
