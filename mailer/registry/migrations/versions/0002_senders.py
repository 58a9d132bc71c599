"""senders: the sender verdict and release of a message, allowed envelope domains of an office

Revision ID: 0002
Revises: 0001

"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("offices") as b:
        b.add_column(sa.Column("envelope_domains", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("inbound_messages") as b:
        b.add_column(sa.Column("sender_verdict", sa.String(length=20), nullable=False, server_default=""))
        b.add_column(sa.Column("released_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages") as b:
        b.drop_column("released_at")
        b.drop_column("sender_verdict")
    with op.batch_alter_table("offices") as b:
        b.drop_column("envelope_domains")
