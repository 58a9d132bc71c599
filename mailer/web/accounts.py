"""The console's local accounts: roles, argon2 password hashes, and `duban users add/passwd/list`.

Roles: 办公室 (``office``: sees and does everything), 分管领导 (``leader``: sees everything, reviews the
reports of the offices he supervises, tied to his Person by ``leader_email``), 查看 (``viewer``: read only).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailer.common.errors import ConfigError, DubanError
from mailer.registry.audit import record
from mailer.registry.model import USER_ROLES, Office, Person, User, utcnow
from mailer.registry.store import atomic

ROLE_LABELS = {"office": "办公室", "leader": "分管领导", "viewer": "查看"}
MIN_PASSWORD = 8


class AccountError(DubanError):
    """An account cannot be added or changed as asked; nothing was changed."""


@dataclass(frozen=True)
class Account:
    """A user as the console carries it between requests (no password hash)."""

    id: int
    name: str
    role: str
    leader_email: str
    # Changes with the password: a session signed before a password change is no longer valid.
    stamp: str

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    @property
    def can_act(self) -> bool:
        return self.role == "office"


def _hasher() -> Any:
    try:
        from argon2 import PasswordHasher
    except ImportError as e:
        raise ConfigError(
            "网页控制台需要可选组件 web（argon2-cffi 等）：请运行 pip install 'duban[web]'。"
        ) from e
    return PasswordHasher()


def parse_role(text: str) -> str:
    """The role code for 办公室/分管领导/查看 (or office/leader/viewer)."""
    t = text.strip()
    for code, label in ROLE_LABELS.items():
        if t in (code, label):
            return code
    raise AccountError(f"角色“{text}”无法识别：请写 办公室、分管领导 或 查看。")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"密码太短：至少 {MIN_PASSWORD} 个字符。")


def _stamp(user: User) -> str:
    # A digest of the hash, not a piece of it: the cookie (readable by its holder) reveals nothing of it.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:24]


def to_account(user: User) -> Account:
    return Account(user.id, user.name, user.role, user.leader_email, _stamp(user))


def _leader_person(session: Session, email: str) -> Person:
    person = session.scalars(select(Person).where(Person.email == email.strip().lower())).first()
    if person is None:
        raise AccountError(
            f"名录中没有邮箱为 {email} 的负责同志：分管领导的账号须对应名录中的邮箱（duban offices 可查看）。"
        )
    return person


def add_user(
    engine: Engine, name: str, role: str, password: str, *, leader_email: str = "", by: str,
    now: dt.datetime | None = None,
) -> Account:
    """Add an account.

    :param role: 办公室/分管领导/查看 or office/leader/viewer
    :param leader_email: for a 分管领导, his address in the directory (the offices he supervises follow it)
    :raises AccountError: a name taken, a short password, a leader without a known address
    """
    name, code = name.strip(), parse_role(role)
    if not name or len(name) > 100:
        raise AccountError("用户名不能为空，也不能超过 100 个字符。")
    _check_password(password)
    if code == "leader" and not leader_email.strip():
        raise AccountError("分管领导的账号须写明其邮箱：--leader-email 名录中的邮箱。")
    digest = _hasher().hash(password)
    with atomic(engine) as s:
        if s.scalars(select(User).where(User.name == name)).first() is not None:
            raise AccountError(f"用户“{name}”已存在。修改密码请用 duban users passwd {name}。")
        email = ""
        if code == "leader":
            email = _leader_person(s, leader_email).email
        user = User(name=name, role=code, leader_email=email, password_hash=digest,
                    created_at=now or utcnow(), password_changed_at=now or utcnow())
        s.add(user)
        s.flush()
        record(s, "user_added", f"添加网页控制台用户“{name}”（{ROLE_LABELS[code]}）", actor=by, at=now)
        return to_account(user)


def set_password(engine: Engine, name: str, password: str, *, by: str) -> None:
    """Give ``name`` a new password; its open sessions end (their stamp no longer matches).

    :raises AccountError: no such user, or a short password
    """
    _check_password(password)
    digest = _hasher().hash(password)
    with atomic(engine) as s:
        user = s.scalars(select(User).where(User.name == name.strip())).first()
        if user is None:
            raise AccountError(f"没有用户“{name}”。duban users list 列出全部用户。")
        user.password_hash, user.password_changed_at = digest, utcnow()
        record(s, "password_changed", f"网页控制台用户“{user.name}”的密码已修改", actor=by)


def list_users(engine: Engine) -> list[dict[str, Any]]:
    with atomic(engine) as s:
        return [
            {"name": u.name, "role": ROLE_LABELS[u.role], "leader_email": u.leader_email, "active": u.active,
             "created_at": u.created_at.isoformat(timespec="minutes")}
            for u in s.scalars(select(User).order_by(User.id))
        ]


# A hash of a random text: verifying against it when the name is unknown takes as long as a real check,
# so the answer time does not tell which names exist.
_DUMMY: list[str] = []


def authenticate(engine: Engine, name: str, password: str) -> Account | None:
    """The account when ``password`` is its password, else None."""
    from argon2.exceptions import VerificationError

    ph = _hasher()
    with atomic(engine) as s:
        user = s.scalars(select(User).where(User.name == name.strip(), User.active.is_(True))).first()
        if user is None:
            if not _DUMMY:
                _DUMMY.append(ph.hash("duban-no-such-user"))
            with contextlib.suppress(VerificationError):
                ph.verify(_DUMMY[0], password)
            return None
        try:
            ph.verify(user.password_hash, password)
        except VerificationError:
            return None
        if ph.check_needs_rehash(user.password_hash):
            user.password_hash = ph.hash(password)
        return to_account(user)


def load_account(engine: Engine, user_id: int, stamp: str) -> Account | None:
    """The account of a session, if it still exists, is active and its password is unchanged."""
    with atomic(engine) as s:
        user = s.get(User, user_id)
        if user is None or not user.active or _stamp(user) != stamp:
            return None
        return to_account(user)


def supervised_office_ids(session: Session, account: Account) -> set[int]:
    """The offices whose reports this account may review: those whose leader has its address."""
    if account.role != "leader" or not account.leader_email:
        return set()
    return {
        o.id for o in session.scalars(select(Office).join(Person, Office.leader_id == Person.id).where(
            Person.email == account.leader_email))
    }


__all__ = ["ROLE_LABELS", "USER_ROLES", "Account", "AccountError", "add_user", "authenticate", "list_users",
           "set_password"]
