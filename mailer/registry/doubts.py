"""Mail that may or may not have gone out, as `duban status` and `duban check` list it for the clerk.

The states and what the clerk does about them are mailer.service.uncertain's; this is only the read, as
plain rows (mailer.registry.rows), so `duban status` lists them without SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailer.common.labels import label
from mailer.registry.rows import Rows, as_rows, from_json

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass
class Doubt:
    """One message the clerk must look at: it may or may not have gone out."""

    id: int
    kind: str
    subject: str
    to: list[str]
    error: str

    def line(self) -> str:
        return (
            f"邮件 #{self.id}（{label('dispatch_kind', self.kind)}）“{self.subject}” → {', '.join(self.to)}："
            f"可能已发出也可能未发出。确认对方未收到后运行 `duban outbox resend {self.id}`，"
            f"已收到则运行 `duban outbox drop {self.id}`。"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "subject": self.subject,
            "to": self.to,
            "error": self.error,
        }


def uncertain_dispatches(db: Session | Rows) -> list[Doubt]:
    """Every uncertain dispatch (state ``uncertain``, mailer.registry.model.DispatchState), oldest first."""
    found = as_rows(db).all(
        "SELECT id, kind, subject, to_addrs, error FROM dispatches WHERE state = 'uncertain' ORDER BY id"
    )
    return [Doubt(d.id, d.kind, d.subject, list(from_json(d.to_addrs) or []), d.error) for d in found]
