"""How a cluster's queries (engine.browse.QueryRow) read in a table, in the TUI's query
list and the CLI's `inspect` alike: one function per field, data as plain text."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from .engine.browse import QueryRow
from .safe_text import one_line


def query_cells(text_chars: int) -> dict[str, Callable[[QueryRow], str | Text]]:
    """A cell per QueryRow field; the text cut to `text_chars` characters on one line."""
    return {
        "query_id": lambda row: str(row.query_id),
        "distance": lambda row: "-" if row.distance is None else f"{row.distance:.3f}",
        "model": lambda row: Text(one_line(row.model, 20)),
        "language": lambda row: Text(one_line(row.language, 12)),
        "copies": lambda row: f"{row.copies:,}" if row.copies else "",
        "text": lambda row: Text(one_line(row.text, text_chars)),
    }


def hit_text_cell(hit, chars: int) -> Text:
    """A search hit's or neighbour's snippet, led by how many times its text was asked
    ("×14") when the results fold copies of it."""
    cell = Text(f"×{hit.copies + 1:,} ", style="bold") if hit.copies else Text()
    return cell.append(one_line(hit.snippet, chars))
