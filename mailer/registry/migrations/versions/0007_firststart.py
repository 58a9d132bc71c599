"""firststart: the confirmation gate (service_gate, plans.confirmed_*), late-opened due dates

Revision ID: 0007
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_gate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_tick_at", sa.DateTime(), nullable=True),
        sa.Column("held_since", sa.DateTime(), nullable=True),
        sa.Column("held_reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("held_summary", sa.Text(), nullable=False, server_default=""),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=100), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_gate")),
    )
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("confirmed_by", sa.String(length=100), nullable=False, server_default=""))
    with op.batch_alter_table("periods") as batch:
        batch.add_column(sa.Column("due_moved_from", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("periods") as batch:
        batch.drop_column("due_moved_from")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("confirmed_by")
        batch.drop_column("confirmed_at")
    op.drop_table("service_gate")
