"""A table of queries that loads pages as the cursor moves down, fast at 50k rows."""

from __future__ import annotations

from textual import on, work
from textual.widgets import DataTable

from ..engine.browse import QueryRow, cluster_queries, count_cluster_queries
from ..query_cells import query_cells
from ..wording import count_of
from .tables import add_columns, fit_columns

PAGE_ROWS = 200
TEXT_ROOM = 40  # columns the query text keeps: the other columns go first, in DROP_ORDER
DROP_ORDER = ["distance", "language", "model", "copies"]
_CELLS = query_cells(160)
COLUMNS = {  # name: (width, cell)
    "id": (8, _CELLS["query_id"]),
    "distance": (8, _CELLS["distance"]),
    "model": (16, _CELLS["model"]),
    "language": (10, _CELLS["language"]),
    "copies": (6, _CELLS["copies"]),
    "query": (160, _CELLS["text"]),
}


class QueryTable(DataTable):
    """A cluster's distinct queries, closest to the centroid first, each with the count of
    its copies in the cluster; Enter inspects one."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.run_id: str | None = None
        self.cluster_id: int | None = None
        self.total = 0
        self.copies = 0  # copies counted on the rows instead of listed
        self.loading = False
        self.shown: list[str] = []  # column names, chosen with the first page
        self.restore_row = 0  # where the cursor goes when the first page arrives
        self.listing = 0  # counts lists shown: a page for an earlier one is dropped

    def show_cluster(self, run_id: str, cluster_id: int, keep_row: bool = False) -> None:
        """List a cluster's queries from the top; `keep_row`: the same list again (after an
        edit), the cursor back on the row it was on."""
        row = self.cursor_row if keep_row else 0
        self.close()
        self.run_id, self.cluster_id = run_id, cluster_id
        self.restore_row = row
        self.load_page(0, max(PAGE_ROWS, row + PAGE_ROWS))  # down to the row, and a page on

    def close(self) -> None:
        """List nothing (a page still loading is dropped when it arrives)."""
        self.run_id = self.cluster_id = None
        self.listing += 1
        self.clear(columns=True)
        self.shown = []
        self.total = self.copies = 0
        self.loading = False
        self.border_title = None

    def _choose_columns(self, rows: list[QueryRow]) -> None:
        """The query text keeps TEXT_ROOM columns of the pane: distance, language, model
        and copies give way in that order (the id always stays). A column empty on the
        first page (no model in the data) is left out, and copies show only where the
        cluster has copies."""
        empty = {
            name
            for name in ("model", "language")
            if rows and all(getattr(row, name) is None for row in rows)
        }
        if not self.copies:
            empty.add("copies")
        wanted = [(name, COLUMNS[name][0]) for name in COLUMNS if name not in empty]
        self.shown = fit_columns(wanted, "query", self.size.width, DROP_ORDER, TEXT_ROOM)
        add_columns(self, [(name, COLUMNS[name][0]) for name in self.shown])

    @work(thread=True, exclusive=True, group="query-page", exit_on_error=False)
    def load_page(self, offset: int, limit: int = PAGE_ROWS) -> None:
        cursor = self.app.cursor()
        run_id, cluster_id, listing = self.run_id, self.cluster_id, self.listing
        if cursor is None or run_id is None:
            return
        total, copies = count_cluster_queries(cursor, run_id, cluster_id)
        rows = cluster_queries(cursor, run_id, cluster_id, offset, limit)
        self.app.call_from_thread(self.add_page, listing, total, copies, rows)

    def add_page(self, listing: int, total: int, copies: int, rows: list[QueryRow]) -> None:
        if listing != self.listing:
            return  # closed, or listed again, while this page loaded
        self.total, self.copies = total, copies
        self.loading = False
        first_page = not self.shown
        if first_page:
            self._choose_columns(rows)
        for row in rows:
            self.add_row(*(COLUMNS[name][1](row) for name in self.shown), key=str(row.query_id))
        if first_page and self.restore_row and self.row_count:
            self.move_cursor(row=min(self.restore_row, self.row_count - 1))
        more = " · scroll or G for more" if self.row_count < total else ""
        hidden = f" (+{count_of(copies, 'copy', 'copies')})" if copies else ""
        self.border_title = (
            f"cluster {self.cluster_id}: {self.row_count:,} of {total:,} queries{hidden}{more}"
        )

    @on(DataTable.RowHighlighted)
    def _maybe_load_more(self, event: DataTable.RowHighlighted) -> None:
        near_end = event.cursor_row >= self.row_count - PAGE_ROWS // 4
        if near_end and self.row_count < self.total and not self.loading:
            self.loading = True
            self.load_page(self.row_count)

    @on(DataTable.RowSelected)
    def _inspect(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.app.inspect_query(int(event.row_key.value))
