"""Reading ``Authentication-Results`` header fields (RFC 8601) as real servers write them.

Postfix with OpenDKIM/OpenDMARC, Coremail and Tencent write ``authserv-id; method=result prop.x=y; …``;
Exchange Online writes no authserv-id at all (``spf=pass (sender IP is …) smtp.mailfrom=…; dkim=none …;
dmarc=bestguesspass action=none header.from=…;compauth=pass reason=100``). Lines are folded, comments
(in parentheses, nested) may stand anywhere, values may be quoted, and a message has several such fields.

Which of them to believe is the point (RFC 8601 §5): anybody can write an ``Authentication-Results`` field
into the message they send, naming any server. Only fields whose authserv-id is one we were told to trust
count, and of those only the topmost group: the receiving server puts its fields on top of the message,
above the ``Received`` field it adds for the hop from the sender; everything below that line came from the
sender's side. A header without an authserv-id is named :data:`UNNAMED`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

UNNAMED = "(unnamed)"
_FOLD = re.compile(r"\r?\n[ \t]*")


@dataclass(frozen=True)
class Result:
    """One ``method=result`` of a header, with its properties (``header.d``, ``smtp.mailfrom``…)."""

    method: str  # spf, dkim, dmarc, compauth… (lower case)
    result: str  # pass, fail, softfail, none, neutral, temperror, permerror, bestguesspass… (lower case)
    props: dict[str, str] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class AuthResults:
    """One ``Authentication-Results`` field: who wrote it and what it says."""

    authserv_id: str
    results: tuple[Result, ...]


def _strip_comments(text: str) -> str:
    """The text without (possibly nested) comments; quoted strings are kept as they are."""
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == '"' and depth == 0:
            quoted = True
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0:
                out.append(" ")
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quoted strings."""
    parts: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


_PAIR = re.compile(r'([A-Za-z0-9_.\-/]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]*)')


def _result(text: str) -> Result | None:
    pairs = [(k.lower(), v.strip('"')) for k, v in _PAIR.findall(text)]
    if not pairs:
        return None
    (method, result), rest = pairs[0], pairs[1:]
    method = method.split("/", 1)[0]  # dkim/1=pass: a method version
    props: dict[str, str] = {}
    reason = ""
    for k, v in rest:
        if k == "reason":
            reason = v
        elif "." in k:
            props.setdefault(k, v)
        # Anything else (Exchange's action=none) is not RFC 8601 and says nothing we use.
    return Result(method, result.lower(), props, reason)


def parse(value: str) -> AuthResults:
    """One field's value, read leniently: what cannot be read is left out, never raised."""
    text = _strip_comments(_FOLD.sub(" ", value)).strip()
    segments = _split(text, ";")
    head = segments[0].strip()
    results: list[Result] = []
    if "=" in head.split(" ", 1)[0]:
        # No authserv-id (Exchange Online): the first segment is already a result.
        authserv_id, body = UNNAMED, segments
    else:
        authserv_id, body = (head.split()[0].lower() if head else UNNAMED), segments[1:]
    for seg in body:
        r = _result(seg)
        if r is not None and r.method != "none":  # "authserv-id; none": nothing was checked
            results.append(r)
    return AuthResults(authserv_id, tuple(results))


def trusted(headers: Sequence[tuple[str, str]], trusted_ids: Iterable[str]) -> list[AuthResults]:
    """The Authentication-Results fields to believe, from the message's header fields in order (top first).

    Those of a trusted authserv-id in the topmost group: from the first one found, down to the next
    ``Received`` field. Fields further down — even naming a trusted server — were in the message when it
    reached that server, i.e. written by the sender.
    """
    ids = {i.strip().lower() for i in trusted_ids if i.strip()}
    found: list[AuthResults] = []
    for name, value in headers:
        lname = name.lower()
        if lname == "authentication-results":
            ar = parse(value)
            if ar.authserv_id in ids:
                found.append(ar)
        elif lname == "received" and found:
            break
    return found
