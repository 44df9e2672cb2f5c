"""One way out for every command: a Rich table on stdout, or exactly one JSON document.

Errors are one line on stderr with exit code 2 (1 for a failed verify); with --json the
same message is also the JSON document `{"error": ...}` on stdout, so a program always
has something to parse.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from rich.console import Console, RenderableType
from rich.table import Table

from ..engine.errors import LmsysError
from ..safe_text import Sanitized

USAGE_ERROR = 2


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, Path):
        return str(value)
    return value


def to_json(data) -> str:
    return json.dumps(_plain(data), ensure_ascii=False, indent=2, sort_keys=True)


def notes_to_stderr():
    """A progress sink for read commands: each new message once on stderr (why an index
    is being rebuilt, and how long it took), never on stdout where --json goes."""
    last = [None]

    def sink(event) -> None:
        if event.message and event.message != last[0]:
            last[0] = event.message
            sys.stderr.write(f"{event.stage}: {event.message}\n")

    return sink


def stdout_console() -> Console:
    """Tables for stdout. Piped output is read by programs and people copying ids: wide
    enough that run ids and titles are never cut (Rich assumes 80 columns off a terminal)."""
    width = None if sys.stdout.isatty() else 240
    return Console(highlight=False, soft_wrap=False, width=width)


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.console = stdout_console()

    def emit(self, data, render: Callable[[], RenderableType | list[RenderableType]]) -> int:
        if self.as_json:
            sys.stdout.write(to_json(data) + "\n")
        else:
            shown = render()
            for renderable in shown if isinstance(shown, list) else [shown]:
                self.console.print(Sanitized(renderable))
        return 0

    def fail(self, error: LmsysError | ValueError | str, code: int = USAGE_ERROR) -> int:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if self.as_json:
            sys.stdout.write(to_json({"error": message}) + "\n")
        sys.stderr.write(f"error: {message}\n")  # one line, never wrapped
        return code


def filled_table(rows: list, cells: dict[str, Callable], optional: tuple[str, ...], **options):
    """A table with a column per cell function (column name -> function of a row), leaving
    out each `optional` column that no row fills (a model where the data has none), as the
    TUI does."""
    names = [
        name for name in cells if name not in optional or any(cells[name](row) for row in rows)
    ]
    table = Table(*names, **options)
    for row in rows:
        table.add_row(*(cells[name](row) for name in names))
    return table
