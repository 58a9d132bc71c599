"""intake costs: indexes on dispatches.token and documents.token (matching a reply by its form token)

Without them every reply that carries a token scanned all dispatches, and the cost of a message grew with
the registry's history (issue 11).

Revision ID: 0013
Revises: 0012

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_dispatches_token", "dispatches", ["token"])
    op.create_index("ix_documents_token", "documents", ["token"])


def downgrade() -> None:
    op.drop_index("ix_documents_token", table_name="documents")
    op.drop_index("ix_dispatches_token", table_name="dispatches")
