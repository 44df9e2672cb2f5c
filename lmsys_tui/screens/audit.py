"""The audit trail of a run: every curation edit, oldest first (`a` on Clusters)."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ..engine.curation.audit import Edit, list_edits
from ..safe_text import one_line
from ..widgets.tables import add_columns


class AuditScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,a", "dismiss", "Close", id="close")]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.edits: dict[str, Text] = {}  # edit id -> the edit in words, for the line below

    def compose(self) -> ComposeResult:
        with Vertical(id="audit"):
            yield Static(Text(f"Edits of {self.run_id}", style="bold"))
            yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
            # The highlighted edit whole: the table is wider than the dialog.
            yield Static(id="audit-detail", classes="detail")

    def on_mount(self) -> None:
        add_columns(
            self.query_one(DataTable),
            [
                ("edit", 5),
                ("when", 19),
                ("action", 7),
                ("target", 24),
                ("previous", 30),
                ("new", 30),
                ("reason", 16),
            ],
        )
        self.load()

    @work(thread=True, exclusive=True, group="audit", exit_on_error=False)
    def load(self) -> None:
        cursor = self.app.cursor()
        edits = list_edits(cursor, self.run_id) if cursor is not None else []
        self.app.call_from_thread(self.show, edits)

    def show(self, edits: list[Edit]) -> None:
        table = self.query_one(DataTable)
        for edit in edits:
            self.edits[str(edit.edit_id)] = describe_edit(edit)
            table.add_row(
                str(edit.edit_id),
                f"{edit.edited_at:%Y-%m-%d %H:%M:%S}",
                edit.action,
                Text(one_line(_readable(edit.target), 60)),
                Text(one_line(_readable(edit.previous), 80)),
                Text(one_line(_readable(edit.new), 80)),
                Text(one_line(edit.reason, 40)),
                key=str(edit.edit_id),
            )
        if not edits:
            table.border_subtitle = "no edits yet"

    @on(DataTable.RowHighlighted, "#audit-table")
    def _edit_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.query_one("#audit-detail", Static).update(self.edits.get(event.row_key.value, ""))


def describe_edit(edit: Edit) -> Text:
    """One edit, each field on its line and whole (within reason)."""
    text = Text.assemble(
        (f"edit {edit.edit_id} · {edit.action}", "bold"), f" · {edit.edited_at:%Y-%m-%d %H:%M:%S}"
    )
    for name, value in (
        ("target", edit.target),
        ("previous", edit.previous),
        ("new", edit.new),
        ("reason", edit.reason),
    ):
        text.append(f"\n{name}: ", style="bold")
        text.append(one_line(_readable(value), 300))
    return text


def _readable(value) -> str:
    """An edit's fields as "key: value" pairs, not raw JSON."""
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_readable(item)}" for key, item in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_readable(item) for item in value) or "-"
    if value is None:
        return "-"
    return str(value)
