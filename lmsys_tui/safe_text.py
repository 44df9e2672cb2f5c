"""The one sanitiser for untrusted text (prompts, metadata, titles from an LLM or an
edit): nothing a terminal would act on reaches it.

Rich `Text` objects never parse markup; these helpers also remove what a terminal would
act on (escape sequences, bells, carriage returns, C1 controls, bidi overrides) and keep
lines from breaking the layout. The TUI passes every data string through them; the CLI
also wraps each whole renderable in `Sanitized`, so a field a command forgot is still safe.
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


def strip_controls(text: str) -> str:
    """Text with control characters (newline kept) removed; Rich measures them as zero
    cells, so removing them keeps a table's widths exact."""
    return _CONTROL.sub("", text)


class Sanitized:
    """A Rich renderable whose text segments have their control characters removed
    (Rich's own style codes are added later, when segments are written)."""

    def __init__(self, renderable) -> None:
        self.renderable = renderable

    def __rich_console__(self, console, options):
        from rich.segment import Segment

        for segment in console.render(self.renderable, options):
            if segment.control or not _CONTROL.search(segment.text):
                yield segment
            else:
                yield Segment(strip_controls(segment.text), segment.style)

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        return Measurement.get(console, options, self.renderable)
