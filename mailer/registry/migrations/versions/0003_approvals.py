"""approvals: record which request each decision answers

Revision ID: 0003
Revises: 0002

A leader's 同意 decides the revision named in the request they read (issue 8.2); the approval row keeps
that request (a dispatch) so the ledger can show which mail each decision answered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot add a foreign key to an existing table in place.
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("request_dispatch_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_approvals_request_dispatch_id_dispatches", "dispatches", ["request_dispatch_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_constraint("fk_approvals_request_dispatch_id_dispatches", type_="foreignkey")
        batch.drop_column("request_dispatch_id")
