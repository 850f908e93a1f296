"""compact samples: a series table, integer milliseconds, details and phases only when telling

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

From ~320 bytes a sample (SQLite) and ~350 (PostgreSQL) to under 100: the samples are copied
into the compact table in one statement each, then the old table is dropped. Only the phases
of bad samples are kept (converted in Python: there are few); those of good samples are in
the metrics. A good sample's detail is kept when it differs from its series' usual one.
"""

import json
from collections import Counter
from typing import Any

import sqlalchemy as sa
from alembic import op

from outagewatch.store import postgres, sqlite

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The error kinds as numbered by tables.ERROR_KINDS when this migration was written.
ERROR_KINDS = ("timeout", "refused", "dns", "tls", "protocol", "auth", "unexpected")
CHUNK = 5000


def _backend() -> Any:
    return sqlite if op.get_bind().dialect.name == "sqlite" else postgres


# The statements are built from constants of this file and of the dialect modules only.
# ruff: noqa: S608


def upgrade() -> None:
    backend = _backend()
    bind = op.get_bind()
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("vantage", sa.String(64), nullable=False),
        sa.Column("usual_detail", sa.String(256)),
        sa.Column("newest_id", sa.BigInteger),
        sa.Column("newest_started_at", sa.BigInteger),
        sa.UniqueConstraint("platform", "service", "vantage", name="uq_series"),
    )
    _fill_series(bind)
    for statement in backend.COMPACT_SAMPLES_0009:
        op.execute(statement)
    codes = " ".join(f"WHEN '{kind}' THEN {n}" for n, kind in enumerate(ERROR_KINDS, 1))
    op.execute(
        f"""INSERT INTO samples_compact
            (id, started_at, series_id, duration, bad, error_kind, detail, phases)
        SELECT s.id, {backend.millis_of_timestamp_0009("s.started_at")}, r.id,
            {_millis_sql(bind, "s.duration")}, s.bad,
            CASE WHEN s.ok THEN NULL ELSE CASE s.error_kind {codes} ELSE 7 END END,
            CASE WHEN s.ok AND s.detail = r.usual_detail THEN NULL ELSE s.detail END,
            NULL
        FROM samples s JOIN series r
            ON r.platform = s.platform AND r.service = s.service AND r.vantage = s.vantage"""
    )
    _copy_phases(bind, "samples", "samples_compact", lambda seconds: int(seconds * 1000 + 0.5))
    op.drop_table("samples")
    op.rename_table("samples_compact", "samples")
    for statement in backend.SAMPLE_INDEXES_0009:
        op.execute(statement)


def _fill_series(bind: sa.Connection) -> None:
    """One row per (platform, service, vantage), with the detail most of its good samples
    carry, so that as many as possible store none."""
    counts: dict[tuple[str, str, str], Counter[str]] = {}
    for platform, service, vantage, detail, count in bind.execute(
        sa.text(
            "SELECT platform, service, vantage, CASE WHEN ok THEN detail END, count(*)"
            " FROM samples GROUP BY platform, service, vantage, CASE WHEN ok THEN detail END"
        )
    ):
        found = counts.setdefault((platform, service, vantage), Counter())
        if detail is not None:
            found[detail] += count
    rows = [
        {"platform": p, "service": s, "vantage": v,
         "usual_detail": c.most_common(1)[0][0] if c else None}
        for (p, s, v), c in counts.items()
    ]  # fmt: skip
    if rows:
        series = sa.table(
            "series", *(sa.column(n) for n in ("platform", "service", "vantage", "usual_detail"))
        )
        bind.execute(sa.insert(series), rows)


def _millis_sql(bind: sa.Connection, column: str) -> str:
    rounded = f"{column} * 1000 + 0.5"  # half up, as tables.to_millis
    if bind.dialect.name == "sqlite":
        return f"CAST({rounded} AS INTEGER)"
    return f"floor({rounded})::integer"


def _copy_phases(bind: sa.Connection, source: str, target: str, convert: Any) -> None:
    """The phases of bad samples, converted value by value (few rows: JSON in SQL differs
    between the dialects)."""
    found = bind.execute(sa.text(f"SELECT id, phases FROM {source} WHERE bad")).all()
    table = sa.table(target, sa.column("id"), sa.column("phases", sa.JSON))
    update = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("sample_id"))
        .values(phases=sa.bindparam("converted", type_=sa.JSON))
    )
    rows = []
    for sample_id, phases in found:
        value = json.loads(phases) if isinstance(phases, str) else phases
        rows.append(
            {"sample_id": sample_id, "converted": {k: convert(v) for k, v in (value or {}).items()}}
        )
    for start in range(0, len(rows), CHUNK):
        bind.execute(update, rows[start : start + CHUNK])


def downgrade() -> None:
    """Back to one wide row per sample (phases of good samples stay empty)."""
    backend = _backend()
    bind = op.get_bind()
    op.create_table(
        "samples_wide",
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
    kinds = " ".join(f"WHEN {n} THEN '{kind}'" for n, kind in enumerate(ERROR_KINDS, 1))
    op.execute(
        f"""INSERT INTO samples_wide (id, platform, service, vantage, started_at, duration, ok,
            bad, error_kind, phases, detail)
        SELECT s.id, r.platform, r.service, r.vantage,
            {backend.timestamp_of_millis_0009("s.started_at")}, s.duration / 1000.0,
            s.error_kind IS NULL, s.bad, CASE s.error_kind {kinds} END, '{{}}',
            coalesce(s.detail, r.usual_detail, '')
        FROM samples s JOIN series r ON r.id = s.series_id"""
    )
    _copy_phases(bind, "samples", "samples_wide", lambda millis: millis / 1000)
    op.drop_table("samples")
    op.drop_table("series")
    op.rename_table("samples_wide", "samples")
    if bind.dialect.name == "postgresql":
        op.execute(
            "SELECT setval('samples_wide_id_seq', coalesce(max(id), 0) + 1, false) FROM samples"
        )
        op.execute("ALTER SEQUENCE samples_wide_id_seq RENAME TO samples_id_seq")
    op.create_index(
        "ix_samples_service_time", "samples", ["platform", "service", "vantage", "started_at"]
    )
    op.create_index("ix_samples_time", "samples", ["started_at"])
