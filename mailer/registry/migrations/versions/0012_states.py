"""states are types: CHECK constraints on periods.state, dispatches.state and submissions.state

Revision ID: 0012
Revises: 0011

Rows written by older revisions hold only these values (every state duban ever wrote is in the lists), so
they pass. A dispatch in a state no version knows is made ``uncertain`` (the clerk decides; never resent on
its own), keeping the old value in its error text; a period or submission in such a state stops the
migration with a message naming it, since guessing where a month or a report stands could send mail.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mailer.common.errors import RegistryError

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported from mailer.registry.model: a migration keeps the schema of its day.
PERIOD = ("open", "collecting", "nothing_reported", "assembling", "awaiting_signoff", "signed_off", "published",
          "skipped")
DISPATCH = ("pending", "sending", "sent", "failed", "uncertain", "dropped")
SUBMISSION = ("invalid", "pending_approval", "approved", "returned", "superseded")
TABLES = {"periods": PERIOD, "dispatches": DISPATCH, "submissions": SUBMISSION}


def _in(states: Sequence[str]) -> str:
    return "state IN (" + ", ".join(f"'{s}'" for s in states) + ")"


def upgrade() -> None:
    conn = op.get_bind()
    conn.execute(
        sa.text(
            f"UPDATE dispatches SET error = 'state was ' || state || '; ' || error, state = 'uncertain' "
            f"WHERE NOT ({_in(DISPATCH)})"
        )
    )
    for table in ("periods", "submissions"):
        odd = conn.execute(sa.text(f"SELECT id, state FROM {table} WHERE NOT ({_in(TABLES[table])})")).fetchall()
        if odd:
            raise RegistryError(
                f"登记簿表 {table} 中有无法识别的状态（{', '.join(f'#{i}: {s}' for i, s in odd[:5])}），"
                "无法升级。请联系维护人员核对这些记录后再运行。"
            )
    for table, states in TABLES.items():
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(op.f(f"ck_{table}_state"), _in(states))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_state"), type_="check")
