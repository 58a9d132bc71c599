"""Finding offices and people by the names and addresses people actually use."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.common.text import key
from mailer.registry.model import Office, OfficeAddress, OfficeAlias, Person


def normalize_address(addr: str) -> str:
    """``"张三 <ZhangSan@X.gov.cn>"`` → ``zhangsan@x.gov.cn``."""
    return parseaddr(addr or "")[1].strip().lower()


def find_office(session: Session, name: str) -> Office | None:
    """The office called ``name`` or known by it as an alias (width, spacing and punctuation ignored)."""
    k = key(name)
    if not k:
        return None
    for office in session.scalars(select(Office)):
        if key(office.name) == k:
            return office
    for alias in session.scalars(select(OfficeAlias)):
        if key(alias.alias) == k:
            return alias.office
    return None


def offices_for_address(session: Session, addr: str) -> list[Office]:
    """Every office that has ``addr`` among its addresses."""
    email = normalize_address(addr)
    return list(
        session.scalars(select(Office).join(OfficeAddress).where(OfficeAddress.email == email).order_by(Office.id))
    )


def person_for_address(session: Session, addr: str) -> Person | None:
    return session.scalars(select(Person).where(Person.email == normalize_address(addr))).first()


@dataclass(frozen=True)
class KnownSender:
    """Who a From address is in the directory: the offices that list it and the person it belongs to.

    Looked up once per message and handed to every step that asks (the sender check, the match by sender,
    the quarantine decision): each used to look it up again.
    """

    address: str
    offices: list[Office]
    person: Person | None


def known_sender(session: Session, addr: str) -> KnownSender:
    return KnownSender(normalize_address(addr), offices_for_address(session, addr), person_for_address(session, addr))


def bureau_office(session: Session) -> Office | None:
    return session.scalars(select(Office).where(Office.is_bureau_office.is_(True))).first()


def signer(session: Session) -> Person | None:
    return session.scalars(select(Person).where(Person.is_signer.is_(True))).first()


def office_address(office: Office) -> str | None:
    """The address forms go to (the first one listed)."""
    return office.addresses[0].email if office.addresses else None
