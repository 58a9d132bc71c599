"""File names built from people's words (office names, notice titles) kept within what file systems take.

ext4 and most Unix file systems allow 255 *bytes* per name, and UTF-8 spends 3 on a Chinese character, so an
office name of 68 characters in "2022年1—6月重点工作进展情况表-<office>.docx" already fails ("File name too
long"); Windows allows 255 UTF-16 units per name but 260 for a whole path, and the clerk saves our
attachments into folders of their own. A name over the budget keeps its start and ends in a short hash of
the whole name, so two long names that share their first words stay two files.
"""

from __future__ import annotations

import hashlib

# Bytes (UTF-8) of a whole name, suffix included: well under 255 so that ".part" and "（第12稿）"-style
# additions still fit, and short enough (60 Chinese characters) to leave room for a Windows folder path.
NAME_BUDGET_BYTES = 180
_HASH_CHARS = 8


def fit_name(stem: str, suffix: str = "", *, budget: int = NAME_BUDGET_BYTES) -> str:
    """``stem + suffix``, or, when that exceeds ``budget`` UTF-8 bytes, the stem cut at a character boundary
    and marked ``~<hash of the full stem>``, so that the whole is at most ``budget`` bytes.

    :raises ValueError: when the suffix alone leaves no room (a programming error, not user input)
    """
    if len((stem + suffix).encode("utf-8")) <= budget:
        return stem + suffix
    mark = "~" + hashlib.sha256(stem.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    room = budget - len((mark + suffix).encode("utf-8"))
    if room <= 0:
        raise ValueError(f"suffix {suffix!r} leaves no room in a {budget}-byte name")
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(" .-_")
    return cut + mark + suffix
