"""the clerk's actions: who and why on events, per-office deadlines, tasks marked 办结

Revision ID: 0008
Revises: 0007

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("actor", sa.String(length=100), nullable=False, server_default=""))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("done_after", sa.String(length=7), nullable=False, server_default=""))
    op.create_table(
        "office_deadlines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("remind_on", sa.Date(), nullable=True),
        sa.Column("escalate_on", sa.Date(), nullable=True),
        sa.Column("assemble_after", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["office_id"], ["offices.id"], name=op.f("fk_office_deadlines_office_id_offices")
        ),
        sa.ForeignKeyConstraint(
            ["period_id"], ["periods.id"], name=op.f("fk_office_deadlines_period_id_periods")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_deadlines")),
        sa.UniqueConstraint("period_id", "office_id", name=op.f("uq_office_deadlines_period_id")),
    )


def downgrade() -> None:
    op.drop_table("office_deadlines")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("done_after")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("reason")
        batch.drop_column("actor")
