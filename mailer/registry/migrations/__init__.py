"""Alembic migrations of the registry (``versions/``), applied from code by :func:`mailer.registry.store.migrate`.

``HEAD`` is the newest revision, known without importing Alembic: a registry already at it is opened without
the migration machinery (a third of a command's start-up). tests/test_store.py fails when a migration is
added without moving it.
"""

HEAD = "0013"
