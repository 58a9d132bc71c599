"""Form tokens: short, human-typable HMACs of plan, period and office under the home's secret key.

``DB-2206-7KQ3MX2A`` = "DB", the period (yymm), 8 Crockford base32 characters (40 bits) of
HMAC-SHA256(key, "plan:year-month:office"). Carried in mail subjects (``[DB-…]``), in the returned .docx
(custom property ``duban_token`` and the visible 表单编号), so a reply can be matched even when its
headers were lost. Unguessable without the key; read back tolerantly (case, O/0, I/L/1, missing dashes).
"""

from __future__ import annotations

import hashlib
import hmac
import re

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
TOKEN_RE = re.compile(r"\bDB[-_ ]?(\d{4})[-_ ]?([0-9A-Za-z]{8})\b", re.IGNORECASE)


def _b32(data: bytes, n: int) -> str:
    bits = int.from_bytes(data, "big")
    total = len(data) * 8
    return "".join(_ALPHABET[(bits >> (total - 5 * (i + 1))) & 31] for i in range(n))


def make_token(key: bytes, plan_id: int, year: int, month: int, office_id: int) -> str:
    """The token of one office's form for one period (office_id 0: the period itself, for sign-off)."""
    mac = hmac.new(key, f"{plan_id}:{year:04d}-{month:02d}:{office_id}".encode(), hashlib.sha256).digest()
    return f"DB-{year % 100:02d}{month:02d}-{_b32(mac[:5], 8)}"


def normalize(code: str) -> str:
    return code.upper().replace("O", "0").replace("I", "1").replace("L", "1").replace("U", "V")


def find_tokens(text: str) -> list[str]:
    """Every token-looking string in ``text``, normalised to ``DB-yymm-XXXXXXXX``, in order, unique."""
    out: list[str] = []
    for m in TOKEN_RE.finditer(text or ""):
        tok = f"DB-{m.group(1)}-{normalize(m.group(2))}"
        if tok not in out:
            out.append(tok)
    return out
