"""Fixed column widths: a table looks the same however fast its rows arrive."""

from __future__ import annotations

from textual import events
from textual.widgets import DataTable

CELL_PADDING = 2  # a DataTable pads each cell by one column on either side
SCROLLBAR = 2  # the vertical scrollbar's columns, once there are more rows than lines


def add_columns(table: DataTable, columns: list[tuple[str, int]]) -> None:
    for label, width in columns:
        table.add_column(label, width=width, key=label)


def fit_columns(
    columns: list[tuple[str, int]], text: str, width: int, drop_order: list[str], text_room: int
) -> list[str]:
    """The columns to show in `width`: those in `drop_order` give way, in that order,
    while the `text` column would have under `text_room` (width 0, not laid out yet:
    all of them)."""
    shown = [name for name, _ in columns]
    widths = dict(columns)
    for name in drop_order:
        beside = sum(widths[n] + CELL_PADDING for n in shown if n != text)
        if not width or width - beside >= text_room + CELL_PADDING:
            break
        if name in shown:
            shown.remove(name)
    return shown


class FittedTable(DataTable):
    """A table whose text column takes the room its pane leaves. The other columns keep
    their widths, or give way whole when the text would get too little: a column cut at
    the edge showed cluster 17 as "1". Refits when resized, rows kept."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.wanted: list[tuple[str, int]] = []
        self.text_column = ""
        self.drop_order: list[str] = []
        self.text_room = 40
        self.fitted: list[tuple[str, int]] = []  # the columns shown, with their widths
        self.row_cells: list[tuple[str, dict]] = []  # every row's key and cells by column

    def set_columns(
        self, columns: list[tuple[str, int]], text: str, drop_order: list[str], text_room=40
    ) -> None:
        """Show these columns (the text column's width is its least) and no rows."""
        self.wanted, self.text_column = columns, text
        self.drop_order, self.text_room = drop_order, text_room
        self.row_cells = []
        self.fitted = []
        self._fit()

    def add_cells(self, cells: dict, key: str) -> None:
        """A row given as cells by column name; those of hidden columns are kept for later."""
        self.row_cells.append((key, cells))
        self.add_row(*(cells[name] for name, _ in self.fitted), key=key)

    def clear_rows(self) -> None:
        self.row_cells = []
        self.clear()

    def on_resize(self, event: events.Resize) -> None:
        self._fit()

    def _fit(self) -> None:
        room = self.size.width - SCROLLBAR if self.size.width else 0
        shown = fit_columns(self.wanted, self.text_column, room, self.drop_order, self.text_room)
        widths = dict(self.wanted)
        if room:
            beside = sum(widths[n] + CELL_PADDING for n in shown if n != self.text_column)
            widths[self.text_column] = max(self.text_room, room - beside - CELL_PADDING)
        fitted = [(name, widths[name]) for name in shown]
        if fitted == self.fitted:
            return
        self.fitted = fitted
        row = self.cursor_row
        self.clear(columns=True)
        add_columns(self, fitted)
        for key, cells in self.row_cells:
            self.add_row(*(cells[name] for name in shown), key=key)
        if self.row_count:
            self.move_cursor(row=min(row, self.row_count - 1))
