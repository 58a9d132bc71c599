"""Mail bodies as text: HTML to text (line breaks kept, <blockquote> quotes marked "> " so a reply's quote
is recognised whatever header the client wrote above it) and format=flowed plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_QUOTE_OPEN, _QUOTE_CLOSE = "\ue000", "\ue001"  # private-use marks, replaced by "> " prefixes at the end


class _HtmlText(HTMLParser):
    """HTML → plain text: tags dropped, <br>/<p>/<div>/rows/items → line breaks, scripts and styles gone.

    The lines inside a ``<blockquote>`` come out prefixed with "> ", as a plain-text client would quote
    them: web mail (Coremail, Apple Mail, Gmail, Foxmail) sends HTML only and quotes in a blockquote, and
    the quoted request must never be read as the reply, whatever the client's attribution line says. A
    blockquote styled ``border:none`` is an editor's indent button, not a quote, and stays plain.
    """

    BLOCK = frozenset(
        [
            "p",
            "div",
            "tr",
            "li",
            "ul",
            "ol",
            "table",
            "blockquote",
            "pre",
            "hr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "section",
            "article",
            "header",
            "footer",
            "dl",
            "dt",
            "dd",
            "address",
            "center",
        ]
    )
    SKIP = frozenset({"script", "style", "head", "title", "xml"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.quotes: list[bool] = []  # per open blockquote: whether it is a quote (not an indent)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag == "blockquote":
            style = re.sub(r"\s+", "", dict(attrs).get("style") or "").lower()
            quote = "border:none" not in style and "border:0" not in style
            self.quotes.append(quote)
            self.out.append(f"\n{_QUOTE_OPEN}\n" if quote else "\n")
        elif tag == "br" or tag in self.BLOCK:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            quote = self.quotes.pop() if self.quotes else False
            self.out.append(f"\n{_QUOTE_CLOSE}\n" if quote else "\n")
        elif tag in self.BLOCK:
            self.out.append("\n")

    def close(self) -> None:
        super().close()
        self.out.extend(f"\n{_QUOTE_CLOSE}\n" for quote in self.quotes if quote)  # unclosed at the end
        self.quotes = []

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    """The readable text of an HTML body (for mail that comes as HTML only)."""
    parser = _HtmlText()
    try:
        parser.feed(html.replace(_QUOTE_OPEN, "").replace(_QUOTE_CLOSE, ""))
        parser.close()
    except (AssertionError, ValueError):  # HTMLParser on badly broken markup
        return re.sub(r"<[^>]*>", " ", html)
    return _tidy(_quote_marks("".join(parser.out)))


def _quote_marks(text: str) -> str:
    """Turn blockquote marks into "> " prefixes on the lines between them (nested: "> > ")."""
    depth, lines = 0, []
    for line in text.split("\n"):
        stripped = line.strip(" ")
        if stripped in (_QUOTE_OPEN, _QUOTE_CLOSE):
            depth = depth + 1 if stripped == _QUOTE_OPEN else max(0, depth - 1)
            continue
        lines.append("> " * depth + line.lstrip(" ") if depth and line.strip() else line)
    return "\n".join(lines)


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    text = "\n".join(line.lstrip(" ") if line.startswith(" ") and line.strip() else line for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def unflow(text: str, *, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed soft line breaks (Thunderbird, Apple Mail)."""
    out: list[str] = []
    buf = ""
    for line in text.split("\n"):
        if line.endswith(" ") and line != "-- ":
            buf += line[:-1] if delsp else line
        else:
            out.append(buf + line)
            buf = ""
    if buf:
        out.append(buf)
    return "\n".join(out)
