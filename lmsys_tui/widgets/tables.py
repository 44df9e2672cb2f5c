"""Fixed column widths: a table looks the same however fast its rows arrive."""

from __future__ import annotations

from textual.widgets import DataTable


def add_columns(table: DataTable, columns: list[tuple[str, int]]) -> None:
    for label, width in columns:
        table.add_column(label, width=width, key=label)
