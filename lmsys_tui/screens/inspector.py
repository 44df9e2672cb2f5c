"""The Query Inspector: full text, metadata, the query's cluster in every run, neighbours."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from ..engine.browse import NotFound, QueryDetail, query_detail
from ..engine.errors import LmsysError
from ..query_cells import hit_text_cell
from ..safe_text import one_line, printable
from ..widgets.footer import KeysFooter
from ..widgets.status_line import StatusLine
from ..widgets.tables import add_columns
from ..wording import count_of

META_NAME_WIDTH = 12  # the metadata names' column
MIN_VALUE_WIDTH = 16  # narrower, and each value goes under its name


class InspectorScreen(Screen):
    """One query; Enter on a neighbour inspects it, Escape goes back."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("t", "focus_text", "Text", id="text"),
        Binding("n", "focus_neighbours", "Neighbours", id="neighbours"),
        Binding("y", "copy_text", "Copy text", id="copy-text"),
        Binding("Y", "copy_id", "Copy id", id="copy-id"),
        Binding("o", "open_pager", "Pager", id="pager"),
    ]

    def __init__(self, query_id: int) -> None:
        super().__init__()
        self.query_id = query_id
        self.text: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="query-title", classes="title")
        with Horizontal():
            with VerticalScroll(id="query-text-pane"):
                yield Static(id="query-text")
            with VerticalScroll(id="query-meta-pane"):
                yield Static(id="query-meta", classes="detail")
        yield DataTable(id="neighbours", cursor_type="row", zebra_stripes=True)
        yield StatusLine()
        yield KeysFooter()

    def on_mount(self) -> None:
        table = self.query_one("#neighbours", DataTable)
        add_columns(table, [("id", 8), ("similarity", 10), ("cluster", 8), ("query", 140)])
        table.border_title = "nearest neighbours"
        self.load()

    @work(thread=True, exclusive=True, group="inspector", exit_on_error=False)
    def load(self) -> None:
        cursor = self.app.cursor()
        if cursor is None:
            return
        try:
            detail = query_detail(cursor, self.query_id)
        except NotFound as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", markup=False)
            return
        self.app.call_from_thread(self.show, detail)
        # Neighbours' clusters in the run being browsed when the query is in it.
        runs = [m.run_id for m in detail.clusters]
        run_id = self.app.run_id if self.app.run_id in runs else (runs[0] if runs else None)
        try:
            with self.app.search_lock:
                neighbours = self.app.searcher(run_id).similar(self.query_id, n=10)
        except LmsysError as error:
            self.app.call_from_thread(self.show_no_neighbours, str(error))
            return
        self.app.call_from_thread(self.show_neighbours, neighbours, run_id)

    def action_copy_text(self) -> None:
        """The whole prompt to the clipboard (the terminal's, through OSC 52)."""
        if self.text is not None:
            self.app.copy_to_clipboard(self.text)
            self.notify(f"Copied query {self.query_id}'s text ({len(self.text):,} characters)")

    def action_open_pager(self) -> None:
        """The whole prompt in $PAGER (less by default); the text pane scrolls where there
        is none. Control characters are removed first: a pager such as cat passes them on."""
        if self.text is None:
            return
        command = shlex.split(os.environ.get("PAGER") or "less")
        if not command or shutil.which(command[0]) is None:
            self.action_focus_text()
            self.notify(f"no pager {command[0] if command else ''!r}: the text pane scrolls")
            return
        try:
            with self.app.suspend():
                subprocess.run(command, input=printable(self.text), text=True, check=False)
        except SuspendNotSupported:
            self.action_focus_text()
            self.notify("this terminal cannot hand over to a pager: the text pane scrolls")

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(str(self.query_id))
        self.notify(f"Copied {self.query_id}")

    def show(self, detail: QueryDetail) -> None:
        self.text = detail.text
        self.query_one("#query-title", Static).update(
            Text(f"query {detail.query_id} · {len(detail.text):,} characters", style="bold")
        )
        self.query_one("#query-text", Static).update(Text(printable(detail.text) or "(empty)"))
        meta = Text()
        fields = [
            ("conversation", detail.conversation_id),
            ("source", detail.source),
            ("model", detail.model),
            ("language", detail.language),
            ("turn", detail.turn),
            ("loaded", detail.loaded_at.strftime("%Y-%m-%d %H:%M")),
        ]
        extra = sorted(detail.extra.items())
        fields += [(key, json.dumps(value, ensure_ascii=False)) for key, value in extra]
        pane = self.query_one("#query-meta", Static)
        # Values wrap under themselves, not under the names; a narrow pane puts each value
        # under its name (width less padding and a scrollbar; not laid out yet: no wrap).
        width = pane.size.width - pane.styles.padding.width - 1 if pane.size.width else 80
        beside = width - META_NAME_WIDTH - 2 >= MIN_VALUE_WIDTH
        indent = META_NAME_WIDTH + 2 if beside else 2
        for name, value in fields:
            if beside:
                meta.append(f"{one_line(name, META_NAME_WIDTH):>{META_NAME_WIDTH}}  ", style="bold")
            else:
                meta.append(f"{one_line(name, width)}\n  ", style="bold")
            shown = Text(one_line("-" if value is None else str(value), 60))
            lines = shown.wrap(self.app.console, max(width - indent, 4), overflow="fold")
            meta.append_text(Text("\n" + " " * indent).join(lines))
            meta.append("\n")
        meta.append("\nclusters\n", style="bold")
        for membership in detail.clusters:
            meta.append(f"  {one_line(membership.run_id, 40)}\n", style="dim")
            meta.append(f"    {membership.cluster_id}: {one_line(membership.title, 50)}\n")
            if membership.copies:
                copies = count_of(membership.copies, "copy", "copies")
                meta.append(f"    {copies} of this text in the run\n", style="dim")
        if not detail.clusters:
            meta.append("  not in any run yet\n", style="dim")
        self.query_one("#query-meta", Static).update(meta)

    def show_neighbours(self, hits, run_id: str | None) -> None:
        table = self.query_one("#neighbours", DataTable)
        table.clear()
        if run_id:  # say whose cluster ids these are
            table.border_title = f"nearest neighbours · clusters of {one_line(run_id, 60)}"
        for hit in hits:
            table.add_row(
                str(hit.query_id),
                f"{hit.score:.3f}",
                "-" if hit.cluster_id is None else str(hit.cluster_id),
                hit_text_cell(hit, 140),
                key=str(hit.query_id),
            )

    def show_no_neighbours(self, message: str) -> None:
        self.query_one("#neighbours", DataTable).border_subtitle = one_line(message, 100)

    @on(DataTable.RowSelected, "#neighbours")
    def _inspect(self, event: DataTable.RowSelected) -> None:
        self.app.inspect_query(int(event.row_key.value))

    def action_focus_text(self) -> None:
        self.query_one("#query-text-pane").focus()

    def action_focus_neighbours(self) -> None:
        self.query_one("#neighbours").focus()
