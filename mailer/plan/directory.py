"""The directory workbook (名录): offices, their addresses and supervising leaders, the signer, and the
distribution list — read from .xlsx and applied to the registry. Layout: docs/directory-format.md.

Sheets are recognised by their header row (股室名称 + 邮箱; 姓名 + 邮箱; 名称 + 邮箱), not by position or
sheet name. Reading checks everything first and lists every problem; applying updates the registry in the
caller's transaction: offices matched by name or alias, addresses and aliases replaced by the file's,
offices that a task import created under another name (督导组) merged into the office that has that alias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailer.common.errors import PlanImportError
from mailer.common.text import clean, key, squash
from mailer.plan.xlsxformulas import uncached_formulas
from mailer.registry.model import (
    Dispatch,
    Document,
    Event,
    InboundMessage,
    Office,
    OfficeAddress,
    OfficeAlias,
    Person,
    Recipient,
    Submission,
    TaskOffice,
)

OFFICE_COLUMNS = {
    "name": ("股室名称", "股室", "科室名称"),
    "aliases": ("别名", "又称"),
    "emails": ("邮箱", "电子邮箱", "邮件地址", "email"),
    "contact": ("联系人",),
    "phone": ("联系电话", "电话"),
    "leader": ("分管负责同志", "分管领导", "分管局领导"),
    "bureau": ("局办公室", "是否局办公室"),
    "envelope": ("允许代发域名", "代发域名", "信封发件域名"),
}
PEOPLE_COLUMNS = {
    "name": ("姓名",),
    "title": ("职务",),
    "email": ("邮箱", "电子邮箱", "邮件地址", "email"),
    "role": ("角色",),
    "signer": ("签发人",),
}
DIST_COLUMNS = {"name": ("名称", "单位", "分发对象"), "email": ("邮箱", "电子邮箱", "邮件地址", "email")}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LIST_SEP = re.compile(r"[\s,;；，、]+")
_ALIAS_SEP = re.compile(r"[\n,;；，、/]+")
_YES = {"是", "y", "yes", "true", "1", "√", "✓", "✔", "x", "签发人", "局办公室"}


@dataclass
class DirOffice:
    name: str
    aliases: list[str]
    emails: list[str]
    contact: str
    phone: str
    leader: str
    bureau: bool
    where: str
    envelope_domains: list[str] = field(default_factory=list)


@dataclass
class DirPerson:
    name: str
    title: str
    email: str
    signer: bool
    where: str


@dataclass
class ParsedDirectory:
    offices: list[DirOffice]
    people: list[DirPerson]
    distribution: list[tuple[str, str]] | None  # None: the workbook has no distribution sheet
    warnings: list[str] = field(default_factory=list)


@dataclass
class DirectoryChanges:
    """What applying a directory changed, for the import report."""

    offices_added: list[str] = field(default_factory=list)
    offices_updated: list[str] = field(default_factory=list)
    offices_merged: list[tuple[str, str]] = field(default_factory=list)  # (task-only name, directory office)
    offices_dropped: list[str] = field(default_factory=list)  # in the registry's directory, not in the file
    people_added: list[str] = field(default_factory=list)
    people_updated: list[str] = field(default_factory=list)
    people_dropped: list[str] = field(default_factory=list)
    distribution: int | None = None
    distribution_changed: bool = False
    offices: int = 0
    people: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.offices_added
            or self.offices_updated
            or self.offices_merged
            or self.offices_dropped
            or self.people_added
            or self.people_updated
            or self.people_dropped
            or self.distribution_changed
        )

    def lines(self) -> list[str]:
        out = [
            f"名录：{self.offices} 个股室，{self.people} 人"
            + (f"，分送名单 {self.distribution} 个" if self.distribution is not None else "")
        ]
        for label, names in (
            ("新增股室", self.offices_added),
            ("更新股室", self.offices_updated),
            ("名录中已没有的股室（保留记录，已删除邮箱）", self.offices_dropped),
            ("新增人员", self.people_added),
            ("更新人员", self.people_updated),
            ("名录中已没有的人员（保留记录）", self.people_dropped),
        ):
            if names:
                out.append(f"  {label}：{'、'.join(names)}")
        for src, dst in self.offices_merged:
            out.append(f"  任务表中的“{src}”已并入“{dst}”")
        if self.distribution_changed:
            out.append("  分送名单已更新")
        if not self.changed:
            out.append("  无变化")
        return out


# --- reading ------------------------------------------------------------------------------------------


def _s(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return clean(v).strip()


def _header(
    rows: list[tuple[Any, ...]], columns: dict[str, tuple[str, ...]], need: tuple[str, ...]
) -> tuple[int, dict[str, int]] | None:
    keys = {col: {key(x) for x in labels} for col, labels in columns.items()}
    for r, raw in enumerate(rows[:10]):
        found: dict[str, int] = {}
        for i, v in enumerate(raw):
            k = key(_s(v))
            for col, ks in keys.items():
                if k in ks and col not in found:
                    found[col] = i
        if all(c in found for c in need):
            return r, found
    return None


def is_directory(workbook: Any) -> bool:
    """True when some sheet is headed like the directory's 股室 sheet (股室名称 + 邮箱)."""
    return any(
        _header(list(ws.iter_rows(max_row=10, values_only=True)), OFFICE_COLUMNS, ("name", "emails"))
        for ws in workbook.worksheets
    )


def _table(
    ws: Any, columns: dict[str, tuple[str, ...]], need: tuple[str, ...]
) -> list[tuple[str, dict[str, str]]] | None:
    rows = list(ws.iter_rows(values_only=True))
    found = _header(rows, columns, need)
    if found is None:
        return None
    r0, mapping = found
    out = []
    for r in range(r0 + 1, len(rows)):
        raw = rows[r]
        values = {col: _s(raw[i]) if i < len(raw) else "" for col, i in mapping.items()}
        if any(values.values()):
            out.append((f"sheet {ws.title}, row {r + 1}", values))
    return out


def _emails(text: str, where: str, errors: list[str]) -> list[str]:
    out: list[str] = []
    for part in _LIST_SEP.split(text):
        addr = part.strip().strip("<>").lower()
        if not addr:
            continue
        if not _EMAIL.match(addr):
            errors.append(f'{where}: "{part}" is not an e-mail address. 邮箱格式不正确。')
        elif addr not in out:
            out.append(addr)
    return out


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _domains(text: str, where: str, errors: list[str]) -> list[str]:
    """The envelope-sender domains a row allows (a mailing service's bounce domain), lower case."""
    out: list[str] = []
    for part in _LIST_SEP.split(text):
        d = part.strip().lstrip("@").rstrip(".").lower()
        if not d:
            continue
        if not _DOMAIN.match(d):
            errors.append(
                f'{where}: 允许代发域名 "{part}" is not a domain (e.g. mail.example.com). 代发域名格式不正确。'
            )
        elif d not in out:
            out.append(d)
    return out


def _yes(text: str) -> bool:
    return text.strip().lower() in _YES


def refuse_uncached_formulas(workbook: Any, source: str) -> None:
    """Refuse a directory whose formulas were never calculated: read as values, they would be empty.

    :raises PlanImportError: naming every such cell and the fix
    """
    cells = [c for ws in workbook.worksheets for c in uncached_formulas(ws)]
    if cells:
        shown = "、".join(cells[:20]) + (f" 等 {len(cells)} 个单元格" if len(cells) > 20 else "")
        raise PlanImportError(
            f'"{source}": {len(cells)} cell(s) hold a formula that was never calculated, so their value '
            f"cannot be read: {shown}. Nothing imported. 名录中的单元格 {shown} 是公式，但文件中没有计算结果"
            "（多为程序生成的表格），无法读取其内容，未导入任何内容。请用 Excel 或 WPS 打开该文件并保存"
            "（保存时会计算公式）后重新导入，或把这些单元格改为直接填写的邮箱、姓名。"
        )


def read_directory(workbook: Any, source: str) -> ParsedDirectory:
    """The directory in a workbook, checked: every problem is collected and reported at once.

    :raises PlanImportError: listing each problem with its sheet and row (duplicate office or alias, bad
        or missing address, unknown leader, several bureau offices or signers)
    """
    offices_rows = people_rows = dist_rows = None
    for ws in workbook.worksheets:
        if offices_rows is None:
            offices_rows = _table(ws, OFFICE_COLUMNS, ("name", "emails"))
            if offices_rows is not None:
                continue
        if people_rows is None:
            people_rows = _table(ws, PEOPLE_COLUMNS, ("name", "email"))
            if people_rows is not None:
                continue
        if dist_rows is None:
            dist_rows = _table(ws, DIST_COLUMNS, ("name", "email"))
    if offices_rows is None:
        raise PlanImportError(
            f'"{source}": no sheet headed 股室名称 | 邮箱. See docs/directory-format.md. 名录中没有“股室”表。'
        )
    refuse_uncached_formulas(workbook, source)
    errors: list[str] = []
    warnings: list[str] = []
    people = _read_people(people_rows or [], errors, warnings)
    offices = _read_offices(offices_rows, people, errors, warnings)
    distribution = None
    if dist_rows is not None:
        distribution = []
        seen: set[str] = set()
        for where, v in dist_rows:
            for addr in _emails(v.get("email", ""), where, errors):
                if addr not in seen:
                    seen.add(addr)
                    distribution.append((squash(v.get("name", "")), addr))
    if errors:
        raise PlanImportError(
            f'"{source}": {len(errors)} problem(s) in the directory; nothing imported.\n  '
            + "\n  ".join(errors)
        )
    return ParsedDirectory(offices=offices, people=people, distribution=distribution, warnings=warnings)


def _read_people(
    rows: list[tuple[str, dict[str, str]]], errors: list[str], warnings: list[str]
) -> list[DirPerson]:
    people: list[DirPerson] = []
    seen: dict[str, str] = {}
    for where, v in rows:
        name = squash(v.get("name", ""))
        addrs = _emails(v.get("email", ""), where, errors)
        if not name or not addrs:
            errors.append(f"{where}: 姓名 and 邮箱 are both needed. 姓名和邮箱均需填写。")
            continue
        if addrs[0] in seen:
            errors.append(f"{where}: {addrs[0]} is also the address of {seen[addrs[0]]}. 邮箱重复。")
            continue
        seen[addrs[0]] = name
        role = v.get("role", "")
        signer = _yes(v.get("signer", "")) or "签发" in role
        people.append(
            DirPerson(name=name, title=squash(v.get("title", "")), email=addrs[0], signer=signer, where=where)
        )
    signers = [p for p in people if p.signer]
    if len(signers) > 1:
        errors.append(
            "人员: more than one signer (签发人): "
            + "、".join(p.name for p in signers)
            + ". Mark one. 签发人只能有一位。"
        )
    if people and not signers:
        warnings.append("人员: nobody is marked 签发人; the consolidated notice cannot be sent for sign-off.")
    return people


def _read_offices(
    rows: list[tuple[str, dict[str, str]]], people: list[DirPerson], errors: list[str], warnings: list[str]
) -> list[DirOffice]:
    by_name: dict[str, list[DirPerson]] = {}
    for p in people:
        by_name.setdefault(key(p.name), []).append(p)
    emails = {p.email for p in people}
    offices: list[DirOffice] = []
    names: dict[str, str] = {}  # key → where
    for where, v in rows:
        name = squash(v.get("name", "")).replace(" ", "")
        if not key(name):
            errors.append(f"{where}: 股室名称 is empty. 股室名称为空。")
            continue
        aliases = [a.strip() for a in _ALIAS_SEP.split(v.get("aliases", "")) if key(a)]
        for n in [name, *aliases]:
            if key(n) in names:
                errors.append(f'{where}: "{n}" is already used at {names[key(n)]}. 股室名称或别名重复。')
            names[key(n)] = where
        addrs = _emails(v.get("emails", ""), where, errors)
        if not addrs:
            warnings.append(f"{where}: {name} has no address; it cannot receive forms.")
        leader = squash(v.get("leader", ""))
        if leader:
            if "@" in leader:
                if leader.lower() not in emails:
                    errors.append(
                        f"{where}: 分管负责同志 {leader} is not in the 人员 sheet. 分管负责同志不在人员表中。"
                    )
                leader = leader.lower()
            else:
                matches = by_name.get(key(leader), [])
                if len(matches) != 1:
                    errors.append(
                        f"{where}: 分管负责同志 {leader} is "
                        + ("not in the 人员 sheet" if not matches else "ambiguous; write the e-mail")
                        + ". 分管负责同志在人员表中找不到或重名。"
                    )
                    continue
                leader = matches[0].email
        offices.append(
            DirOffice(
                name=name,
                aliases=aliases,
                emails=addrs,
                contact=squash(v.get("contact", "")),
                phone=squash(v.get("phone", "")),
                leader=leader,
                bureau=_yes(v.get("bureau", "")),
                where=where,
                envelope_domains=_domains(v.get("envelope", ""), where, errors),
            )
        )
    bureau = [o for o in offices if o.bureau]
    if len(bureau) > 1:
        errors.append(
            "股室: more than one row is marked 局办公室: "
            + "、".join(o.name for o in bureau)
            + ". 局办公室只能标注一行。"
        )
    if not bureau:
        guess = [o for o in offices if o.name in ("局办公室", "办公室")]
        if len(guess) == 1:
            guess[0].bureau = True
        else:
            errors.append("股室: no row is marked 局办公室 (column 局办公室 = 是). 请标注局办公室。")
    return offices


# --- applying -----------------------------------------------------------------------------------------


def _office_by_key(session: Session, k: str) -> Office | None:
    for office in session.scalars(select(Office)):
        if key(office.name) == k:
            return office
    return None


def _alias_owner(session: Session, k: str) -> Office | None:
    for alias in session.scalars(select(OfficeAlias)):
        if key(alias.alias) == k:
            return alias.office
    return None


def merge_office(session: Session, src: Office, dst: Office) -> None:
    """Move everything that points at ``src`` to ``dst`` and delete ``src`` (same office, two names)."""
    for link in list(session.scalars(select(TaskOffice).where(TaskOffice.office_id == src.id))):
        twin = session.scalars(
            select(TaskOffice).where(TaskOffice.task_id == link.task_id, TaskOffice.office_id == dst.id)
        ).first()
        if twin is not None:
            twin.is_lead = twin.is_lead or link.is_lead
            session.delete(link)
        else:
            link.office_id = dst.id
    session.flush()
    for model in (Dispatch, InboundMessage, Submission, Document, Event):
        session.execute(update(model).where(model.office_id == src.id).values(office_id=dst.id))
    session.delete(src)
    session.flush()


def _resolve(session: Session, d: DirOffice, claimed: set[int]) -> Office | None:
    for k in [key(d.name), *(key(a) for a in d.aliases)]:
        office = _office_by_key(session, k) or _alias_owner(session, k)
        if office is not None and office.id not in claimed:
            return office
    return None


def _snapshot(o: Office) -> tuple[Any, ...]:
    return (
        o.name,
        o.contact,
        o.phone,
        o.leader_id,
        o.is_bureau_office,
        o.in_directory,
        [a.email for a in o.addresses],
        sorted(a.alias for a in o.aliases),
        o.envelope_domains,
    )


def apply_directory(session: Session, parsed: ParsedDirectory) -> DirectoryChanges:
    """Make the registry's directory what the file says, in the caller's transaction."""
    ch = DirectoryChanges(offices=len(parsed.offices), people=len(parsed.people))
    had_role = {o.leader_id for o in session.scalars(select(Office).where(Office.in_directory.is_(True)))}
    had_role |= {p.id for p in session.scalars(select(Person).where(Person.is_signer.is_(True)))}
    people = _apply_people(session, parsed.people, ch, had_role)
    claimed: set[int] = set()
    targets: list[tuple[DirOffice, Office]] = []
    for d in parsed.offices:
        office = _resolve(session, d, claimed)
        if office is None:
            office = Office(name=d.name)
            session.add(office)
            session.flush()
        if not office.in_directory:  # new, or known so far only from a task table
            ch.offices_added.append(d.name)
        claimed.add(office.id)
        targets.append((d, office))
    before = {o.id: _snapshot(o) for _, o in targets}
    for d, office in targets:
        for alias_name in d.aliases:
            other = _office_by_key(session, key(alias_name))
            if other is not None and other.id != office.id and other.id not in claimed:
                ch.offices_merged.append((other.name, d.name))
                merge_office(session, other, office)
    _sync_aliases(session, targets, claimed)
    for d, office in targets:
        _set_office(session, office, d, people)
    for office in session.scalars(select(Office).where(Office.in_directory.is_(True))):
        if office.id not in claimed:
            office.in_directory = False
            office.is_bureau_office = False
            office.leader_id = None
            office.addresses.clear()
            office.envelope_domains = ""
            office.aliases.clear()
            ch.offices_dropped.append(office.name)
    session.flush()
    for d, office in targets:
        if d.name not in ch.offices_added and before[office.id] != _snapshot(office):
            ch.offices_updated.append(d.name)
    if parsed.distribution is not None:
        _apply_distribution(session, parsed.distribution, ch)
    return ch


def _sync_aliases(session: Session, targets: list[tuple[DirOffice, Office]], claimed: set[int]) -> None:
    """Give each directory office exactly the file's aliases, touching only rows that differ."""
    desired = {key(a): (a, office) for d, office in targets for a in d.aliases if key(a) != key(d.name)}
    for alias in list(session.scalars(select(OfficeAlias))):
        want = desired.get(key(alias.alias))
        if want is not None and want[1].id == alias.office_id and want[0] == alias.alias:
            del desired[key(alias.alias)]
        elif want is not None or alias.office_id in claimed:
            session.delete(alias)
    session.flush()
    for text, office in desired.values():
        session.add(OfficeAlias(alias=text, office_id=office.id))
    session.flush()
    for _, office in targets:
        session.expire(office, ["aliases"])


def _set_office(session: Session, office: Office, d: DirOffice, people: dict[str, Person]) -> None:
    office.name = d.name
    office.contact = d.contact
    office.phone = d.phone
    office.leader_id = people[d.leader].id if d.leader else None
    office.is_bureau_office = d.bureau
    office.in_directory = True
    office.envelope_domains = " ".join(d.envelope_domains)
    current = {a.email: a for a in office.addresses}
    keep = []
    for pos, addr in enumerate(d.emails):
        row = current.pop(addr, None) or OfficeAddress(email=addr)
        row.position = pos
        keep.append(row)
    office.addresses[:] = keep
    session.flush()


def _apply_people(
    session: Session, parsed: list[DirPerson], ch: DirectoryChanges, had_role: set[int | None]
) -> dict[str, Person]:
    existing = {p.email: p for p in session.scalars(select(Person))}
    out: dict[str, Person] = {}
    for d in parsed:
        person = existing.get(d.email)
        if person is None:
            person = Person(name=d.name, title=d.title, email=d.email, is_signer=d.signer)
            session.add(person)
            ch.people_added.append(d.name)
        elif (person.name, person.title, person.is_signer) != (d.name, d.title, d.signer):
            person.name, person.title, person.is_signer = d.name, d.title, d.signer
            ch.people_updated.append(d.name)
        out[d.email] = person
    for email, person in existing.items():
        # People stay (approvals name them); only someone who had a role and lost it is worth reporting.
        if email not in out and person.id in had_role:
            person.is_signer = False
            ch.people_dropped.append(person.name)
    session.flush()
    return out


def _apply_distribution(session: Session, parsed: list[tuple[str, str]], ch: DirectoryChanges) -> None:
    current = list(session.scalars(select(Recipient).order_by(Recipient.id)))
    ch.distribution = len(parsed)
    if [(r.name, r.email) for r in current] == parsed:
        return
    for r in current:
        session.delete(r)
    session.flush()
    for name, addr in parsed:
        session.add(Recipient(name=name, email=addr))
    ch.distribution_changed = True
    session.flush()
