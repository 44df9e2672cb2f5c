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
    columns: list[tuple[str, int]],
    text: str | tuple[str, ...],
    width: int,
    drop_order: list[str],
    text_room: int,
) -> list[str]:
    """The columns to show in `width`: those in `drop_order` give way, in that order,
    while a `text` column (one, or several sharing the room) would have under
    `text_room` (width 0, not laid out yet: all of them)."""
    texts = (text,) if isinstance(text, str) else text
    shown = [name for name, _ in columns]
    widths = dict(columns)
    for name in drop_order:
        beside = sum(widths[n] + CELL_PADDING for n in shown if n not in texts)
        room = len([n for n in shown if n in texts]) * (text_room + CELL_PADDING)
        if not width or width - beside >= room:
            break
        if name in shown:
            shown.remove(name)
    return shown


class FittedTable(DataTable):
    """A table whose text column (or columns, sharing it) takes the room its pane leaves.
    The other columns keep their widths, or give way whole when the text would get too
    little: a column cut at the edge showed cluster 17 as "1". Refits when resized, rows
    kept."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.wanted: list[tuple[str, int]] = []
        self.text_columns: tuple[str, ...] = ()
        self.drop_order: list[str] = []
        self.text_room = 40
        self.fitted: list[tuple[str, int]] = []  # the columns shown, with their widths
        self.row_cells: list[tuple[str, dict]] = []  # every row's key and cells by column

    def set_columns(
        self,
        columns: list[tuple[str, int]],
        text: str | tuple[str, ...],
        drop_order: list[str],
        text_room=40,
    ) -> None:
        """Show these columns and no rows; `text_room` is the least a text column gets."""
        self.wanted = columns
        self.text_columns = (text,) if isinstance(text, str) else text
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
        shown = fit_columns(self.wanted, self.text_columns, room, self.drop_order, self.text_room)
        widths = dict(self.wanted)
        texts = [name for name in shown if name in self.text_columns]
        if room and texts:
            beside = sum(widths[n] + CELL_PADDING for n in shown if n not in texts)
            share = (room - beside) // len(texts) - CELL_PADDING
            widths |= {name: max(self.text_room, share) for name in texts}
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
