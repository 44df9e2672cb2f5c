"""Two runs compared: agreement, matched clusters, splits, merges; a row opens either side."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from ..engine.errors import LmsysError
from ..engine.insight.compare import Comparison, compare_runs
from ..safe_text import one_line
from ..widgets.footer import KeysFooter
from ..widgets.status_line import StatusLine
from ..widgets.tables import FittedTable


class CompareScreen(Screen):
    """Enter or `a` opens the row's cluster in run A, `b` the one in run B; Escape goes back."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("a", "open('a')", "Open in A", id="open-a"),
        Binding("b", "open('b')", "Open in B", id="open-b"),
    ]

    def __init__(self, run_a: str, run_b: str) -> None:
        super().__init__()
        self.run_a, self.run_b = run_a, run_b
        self.sides: dict[str, tuple[int | None, int | None]] = {}
        self.explained: dict[str, Text] = {}  # row key -> the row in words, titles whole
        self.result: Comparison | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(f"comparing {self.run_a} with {self.run_b}…"), id="compare-title")
        yield FittedTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="compare-detail", classes="detail")
        yield StatusLine()
        yield KeysFooter()

    def on_mount(self) -> None:
        # The two titles share the room left; on a narrow terminal the overlap, then the
        # cluster ids give way whole (the line under the table says them).
        self.query_one(FittedTable).set_columns(
            [
                ("kind", 11),
                ("A", 5),
                ("title in A", 34),
                ("size A", 7),
                ("B", 5),
                ("title in B", 34),
                ("size B", 7),
                ("overlap", 32),
            ],
            text=("title in A", "title in B"),
            drop_order=["overlap", "A", "B"],
            text_room=20,
        )
        self.load()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def load(self) -> None:
        cursor = self.app.cursor()
        if cursor is None:
            return
        try:
            result = compare_runs(cursor, self.run_a, self.run_b)
        except LmsysError as error:
            self.app.call_from_thread(self.show_error, str(error))
            return
        self.app.call_from_thread(self.show, result)

    def show_error(self, message: str) -> None:
        self.query_one("#compare-title", Static).update(Text(one_line(message), style="red"))

    def show(self, result: Comparison) -> None:
        self.query_one("#compare-title", Static).update(
            Text(
                f"A {one_line(result.run_a, 40)}  vs  B {one_line(result.run_b, 40)}: "
                f"{result.shared_queries:,} shared queries, ARI {result.ari:.3f}, "
                f"NMI {result.nmi:.3f}; {len(result.splits)} split, {len(result.merges)} merged",
                style="bold",
            )
        )
        table = self.query_one(FittedTable)
        table.clear_rows()
        self.sides, self.explained = {}, {}
        self.result = result

        def add(kind, a, b, overlap: str, parts=()) -> None:
            key = f"{len(self.sides)}"
            self.sides[key] = (a.cluster_id if a else None, b.cluster_id if b else None)
            self.explained[key] = explain_row(kind, a, b, overlap, parts)
            cells = {
                "kind": kind,
                "A": str(a.cluster_id) if a else "",
                "title in A": Text(one_line(a.title, 60)) if a else "",
                "size A": f"{a.size:,}" if a else "",
                "B": str(b.cluster_id) if b else "",
                "title in B": Text(one_line(b.title, 60)) if b else "",
                "size B": f"{b.size:,}" if b else "",
                "overlap": overlap,
            }
            table.add_cells(cells, key=key)

        for match in result.matches:
            add("match", match.a, match.b, f"jaccard {match.jaccard:.2f}")
        for group in result.splits:
            parts = ", ".join(f"{p.cluster_id}: {p.share:.0%}" for p in group.parts)
            add(Text("split", style="yellow"), group.cluster, None, f"into {parts}", group.parts)
        for group in result.merges:
            parts = ", ".join(f"{p.cluster_id}: {p.share:.0%}" for p in group.parts)
            add(Text("merge", style="yellow"), None, group.cluster, f"of {parts}", group.parts)
        for side in result.no_counterpart_a:
            add(Text("only in A", style="dim"), side, None, "")
        for side in result.no_counterpart_b:
            add(Text("only in B", style="dim"), None, side, "")
        table.focus()

    @on(DataTable.RowHighlighted, "#compare-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The row in words: its titles whole, which a narrow table cuts."""
        explained = self.explained.get(event.row_key.value)
        self.query_one("#compare-detail", Static).update(explained or "")

    @on(DataTable.RowSelected, "#compare-table")
    def _selected(self) -> None:
        self.action_open("a")

    def action_open(self, which: str) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        a, b = self.sides[key]
        cluster, run_id = (a, self.run_a) if which == "a" else (b, self.run_b)
        if cluster is None:
            self.notify(f"this row has no cluster in run {which.upper()}", markup=False)
            return
        self.app.pop_screen()
        self.app.run_id = run_id
        self.app.open_cluster(cluster)


def explain_row(kind, a, b, overlap: str, parts=()) -> Text:
    """One row of the comparison spelled out: each side's cluster, title and size, and for
    a split or merge, each part's share and title."""
    text = Text()
    text.append(kind if isinstance(kind, Text) else Text(kind, style="bold"))
    for letter, side in (("A", a), ("B", b)):
        if side is not None:
            text.append(f"\n{letter} {side.cluster_id} ({side.size:,}): ", style="bold")
            text.append(one_line(side.title, 200))
    other = "B" if a is not None else "A"
    for part in parts:
        text.append(f"\n  {other} {part.cluster_id} {part.share:.0%}: ", style="bold")
        text.append(one_line(part.title, 200))
    if overlap and not parts:
        text.append(f"\n{overlap}", style="dim")
    return text
