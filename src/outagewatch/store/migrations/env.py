"""Alembic environment: migrations always run on a connection handed over by migrate.py."""

from alembic import context

from outagewatch.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with 'outagewatch db upgrade', not the alembic command")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
