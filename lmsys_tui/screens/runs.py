"""Runs: every clustering run with its summary runs and hierarchies; Enter opens one,
d deletes one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from ..safe_text import one_line
from ..widgets.footer import KeysFooter
from ..widgets.status_line import StatusLine
from ..widgets.tables import FittedTable

if TYPE_CHECKING:  # the engine (DuckDB) is imported after the first screen is drawn
    from ..engine.browse import RunInfo


class RunsScreen(Screen):
    """The runs table; `c` compares the highlighted run with the one marked by space."""

    BINDINGS = [
        Binding("enter", "open_run", "Open", id="open"),
        Binding("space", "mark", "Mark to compare", id="mark"),
        Binding("c", "compare", "Compare", id="compare"),
        Binding("d", "delete_run", "Delete", id="delete-run"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunInfo] = []
        self.marked: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static("Clustering runs", classes="title")
            yield FittedTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="run-detail-scroll"):  # Tab, then the arrows scroll it
                yield Static(id="run-detail", classes="detail")
        yield StatusLine()
        yield KeysFooter()

    def on_mount(self) -> None:
        if self.app.opening:
            self.query_one("#run-detail", Static).update(Text("Opening the workspace…"))
        # The run id takes the room left; on a narrow terminal the columns the detail
        # below also says give way whole, from the right.
        self.query_one(FittedTable).set_columns(
            [
                ("run", 26),
                ("algorithm", 9),
                ("clusters", 8),
                ("queries", 9),
                ("model", 16),
                ("created", 16),
                ("summaries", 12),
                ("hier.", 5),
                ("LLM cost", 9),
            ],
            text="run",
            drop_order=["LLM cost", "hier.", "created", "model"],
            text_room=26,
        )
        self.watch(self.app, "generation", lambda _: self.load(), init=False)
        self.load()

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def load(self) -> None:
        if self.app.opening:
            return  # the app reloads every screen once the workspace is open
        from ..engine.browse import list_runs

        cursor = self.app.cursor()
        runs = list_runs(cursor) if cursor is not None else []
        self.app.call_from_thread(self.show, runs)

    def show(self, runs: list[RunInfo]) -> None:
        self.runs = runs
        self.app.prepare_search()
        table = self.query_one(FittedTable)
        table.clear_rows()
        for run in runs:
            cells = {
                # The mark goes first: a long run id would cut a suffix off.
                "run": Text("✎ " if run.edited_at else "", style="yellow").append(run.run_id),
                "algorithm": run.algorithm,
                "clusters": f"{run.n_clusters:,}",
                "queries": f"{run.n_queries:,}",
                "model": Text(run.embedding_model),
                "created": run.created_at.strftime("%Y-%m-%d %H:%M"),
                # An alias, else the namer ("offline", "taxonomy", an LLM): an id would be cut.
                "summaries": Text(", ".join(s.alias or s.model for s in run.summary_runs) or "-"),
                "hier.": str(len(run.hierarchies)),
                "LLM cost": cost_cell(run),
            }
            table.add_cells(cells, key=run.run_id)
        detail = self.query_one("#run-detail", Static)
        if self.app.ws is None and not self.app.workspace_exists():
            message = Text("No data yet: start a job from Jobs (4), or run the quickstart.")
        elif self.app.ws is None and self.app.workspace_error:
            message = Text(f"{self.app.workspace_error}. Ctrl+R reopens it.", style="bold")
        elif runs:
            current = self._current()
            message = describe_run(current) if current else Text(HINT)
        else:
            message = Text("No clustering runs yet: start one from Jobs (4) or with --run-job.")
        detail.update(message)

    def _current(self) -> RunInfo | None:
        table = self.query_one(DataTable)
        if not self.runs or table.cursor_row is None:
            return None
        return self.runs[min(table.cursor_row, len(self.runs) - 1)]

    @on(DataTable.RowHighlighted, "#runs-table")
    def _highlighted(self) -> None:
        """What the highlighted run is, in full: a narrow table cuts columns off."""
        run = self._current()
        if run is not None:
            self.query_one("#run-detail", Static).update(describe_run(run))

    @on(DataTable.RowSelected, "#runs-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_run(str(event.row_key.value))

    def action_open_run(self) -> None:
        run = self._current()
        if run:
            self.app.open_run(run.run_id)

    def action_mark(self) -> None:
        run = self._current()
        if run:
            self.marked = run.run_id
            # notify takes plain strings (a rich Text crashed Textual's toast), markup off.
            self.notify(f"Marked {one_line(run.run_id, 80)} to compare", markup=False)

    def action_compare(self) -> None:
        run = self._current()
        other = next((r for r in self.runs if r.run_id == self.marked), None)
        if run is None or other is None or other is run:
            self.notify("Mark a run with space, move to another, then press c", markup=False)
            return
        self.query_one("#run-detail", Static).update(compare_runs(other, run))
        from .compare import CompareScreen

        self.app.push_screen(CompareScreen(other.run_id, run.run_id))

    def action_delete_run(self) -> None:
        run = self._current()
        if run is None:
            return
        if self.app.job_running():  # it may be naming this very run
            self.notify("A job is running: delete runs when it ends", severity="warning")
            return
        from ..engine.deletion import run_contents

        run_id = run.run_id  # asked with what it holds, counted (its edits too)
        self.app.count_then(lambda ws: run_contents(ws, run_id), self._ask_delete)

    def _ask_delete(self, contents) -> None:
        from ..engine.deletion import delete_run

        run_id = contents.run_id

        def forget() -> None:  # after the deletion, before the screens reload
            if self.app.run_id == run_id:
                self.app.run_id = None  # Clusters and Search show the newest run again
            if self.marked == run_id:
                self.marked = None

        self.app.confirm_deletion(
            f"run {one_line(run_id, 80)}",
            f"Gone for good: {contents.describe()}. The queries and their vectors stay.",
            lambda ws: delete_run(ws, run_id),
            done=forget,
        )


HINT = "Enter opens a run; space marks one, c compares it with the highlighted run; d deletes it."


def cost_cell(run: RunInfo) -> str:
    """What the run's LLM names cost: dollars, "no price" (a model litellm cannot price,
    a local one's), or "-" (offline names, or nothing paid)."""
    from ..engine.browse import llm_usage

    usage = llm_usage(run)
    if usage is None or not (usage["cost"] or usage["unpriced"]):
        return "-"
    return "no price" if _price_unknown(usage) else f"${round(usage['cost'], 6):.4f}"


def _price_unknown(usage: dict) -> bool:
    """Nothing priced, yet replies litellm could not price: the cost is unknown, not $0."""
    return not usage["cost"] and bool(usage["unpriced"])


def describe_run(run: RunInfo) -> Text:
    """A run in a few lines: what it clustered, its sizes, its names and hierarchies."""
    from ..engine.browse import llm_usage

    metrics = run.metrics
    text = Text(one_line(run.run_id, 80), style="bold")
    if run.edited_at:
        text.append(f"  edited {run.edited_at:%Y-%m-%d %H:%M}", style="yellow")
    text.append(
        f"\n{run.algorithm} · {run.n_clusters:,} clusters of {run.n_queries:,} queries · "
        f"{one_line(run.embedding_model, 40)} · {run.created_at:%Y-%m-%d %H:%M}\n"
    )
    facts = []
    if "size_min" in metrics:
        facts.append(
            f"sizes {metrics['size_min']:,}-{metrics['size_max']:,} "
            f"(median {metrics.get('size_median', 0):,.0f})"
        )
    if metrics.get("noise_share"):
        facts.append(f"noise {metrics['noise_share']:.0%}")
    if metrics.get("silhouette") is not None:
        facts.append(f"silhouette {metrics['silhouette']:.3f}")
    copies = metrics.get("duplicates") or {}
    if copies.get("exact") or copies.get("near"):
        facts.append(f"copies {copies.get('exact', 0):,} exact, {copies.get('near', 0):,} near")
    if facts:
        text.append(" · ".join(facts) + "\n")
    if run.description:
        text.append(one_line(run.description, 200) + "\n", style="italic")
    names = [s.shown_as(s.alias or s.model) for s in run.summary_runs]
    text.append("names: ", style="bold")
    text.append(
        one_line(", ".join(names), 120) if names else "none yet (a summarize job names them)"
    )
    for hierarchy in run.hierarchies:
        levels = " -> ".join(f"{n:,}" for n in hierarchy.nodes_by_level)
        text.append("\nhierarchy: ", style="bold")
        text.append(f"{levels} nodes ({one_line(hierarchy.model, 40)} names)")
    if (usage := llm_usage(run)) is not None:
        text.append("\nLLM: ", style="bold")
        text.append(f"{usage['requests']:,} requests, ")
        text.append("no price known" if _price_unknown(usage) else f"${usage['cost']:.4f}")
    text.append("\n\n" + HINT, style="dim")
    return text


def compare_runs(left: RunInfo, right: RunInfo) -> Text:
    """Two runs side by side: sizes, clusters and quality metrics."""
    rows = [("", left.run_id, right.run_id)]
    rows.append(("algorithm", left.algorithm, right.algorithm))
    rows.append(("clusters", f"{left.n_clusters:,}", f"{right.n_clusters:,}"))
    rows.append(("queries", f"{left.n_queries:,}", f"{right.n_queries:,}"))
    rows.append(("model", left.embedding_model, right.embedding_model))
    for key in sorted(set(left.metrics) | set(right.metrics)):
        rows.append((key, _metric(left.metrics.get(key)), _metric(right.metrics.get(key))))
    width = max(len(r[1]) for r in rows) + 2
    text = Text()
    for name, a, b in rows:
        text.append(f"{name:>22}  ", style="bold")
        text.append(f"{a:<{width}}{b}\n")
    return text


def _metric(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)
