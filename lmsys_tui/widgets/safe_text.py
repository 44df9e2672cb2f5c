"""Untrusted text (prompts, LLM titles) made safe to show: no control sequences, one line.

Rich `Text` objects never parse markup; these helpers also remove what a terminal would
act on (escape sequences, carriage returns, bidi overrides) and keep lines from breaking
the layout.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")


def printable(text: str) -> str:
    """Text with control characters (tab and newline kept) replaced by spaces."""
    return _CONTROL.sub(" ", text.replace("\t", "    "))


def one_line(text: str | None, limit: int = 200) -> str:
    """A single line of at most `limit` characters (an ellipsis marks a cut)."""
    flat = _SPACES.sub(" ", printable(text or "")).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
