"""Alembic environment: migrations run from code (store.migrate) on a connection it passes in."""

from alembic import context

from mailer.registry.model import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    raise SystemExit("Run migrations through duban (mailer.registry.store.migrate), not the alembic CLI.")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds the table
)
with context.begin_transaction():
    context.run_migrations()
