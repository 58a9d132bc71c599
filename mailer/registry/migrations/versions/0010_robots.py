"""group robots: the robot_posts queue (WeCom, DingTalk, Feishu webhooks beside the mail)

Revision ID: 0010
Revises: 0008

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported from mailer.registry.model: a migration keeps the schema of its day.
STATES = ("pending", "posting", "posted", "failed", "gave_up", "uncertain")


def upgrade() -> None:
    op.create_table(
        "robot_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("robot", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")", name=op.f("ck_robot_posts_state")
        ),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"], name=op.f("fk_robot_posts_period_id_periods")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_robot_posts")),
        sa.UniqueConstraint("key", name=op.f("uq_robot_posts_key")),
    )


def downgrade() -> None:
    op.drop_table("robot_posts")
