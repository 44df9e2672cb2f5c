"""Search: one input, a mode, filters and facets; results update as you type."""

from __future__ import annotations

import contextlib

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Header, Input, Select, Static
from textual.worker import get_current_worker

from ..engine.browse import list_runs
from ..engine.errors import LmsysError
from ..engine.progress import Progress
from ..engine.retrieval.search import SearchFilters
from ..query_cells import hit_text_cell
from ..safe_text import one_line
from ..widgets.footer import KeysFooter
from ..widgets.status_line import StatusLine
from ..widgets.tables import FittedTable
from ..wording import count_of

DEBOUNCE_SECONDS = 0.06
MODE_OPTIONS = [("hybrid", "hybrid"), ("semantic", "semantic"), ("keyword", "keyword")]
TARGET_OPTIONS = [("queries", "queries"), ("clusters", "clusters")]


class SearchScreen(Screen):
    """Search queries or clusters of the current run; Enter opens a result."""

    AUTO_FOCUS = "#search-input"
    BINDINGS = [
        Binding("ctrl+o", "cycle_mode", "Mode", id="mode"),
        Binding("ctrl+t", "cycle_target", "Queries/clusters", id="target"),
        Binding("escape", "back", "Back", id="back"),
        Binding("down", "to_results", "Results", show=False),  # from a field: fields ignore it
    ]

    def __init__(self) -> None:
        super().__init__()
        self._debounce: Timer | None = None
        self.target = "queries"
        self.has_models = True  # until the searcher finds the data has none
        self.results_wanted = False  # Enter before the results came: go to them when they do
        self.hits: dict[str, Text] = {}  # row key -> the hit in words, for the line below

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="search-bar"):
            yield Input(
                placeholder="search what people asked…", id="search-input", select_on_focus=False
            )
            yield Select(MODE_OPTIONS, value="hybrid", allow_blank=False, id="search-mode")
            yield Select(TARGET_OPTIONS, value="queries", allow_blank=False, id="search-target")
        with Horizontal(id="search-filters"):
            yield Select([], prompt="run", id="filter-run")
            yield Input(placeholder="language", id="filter-language", select_on_focus=False)
            yield Input(placeholder="model", id="filter-model", select_on_focus=False)
            yield Input(
                placeholder="within clusters about…", id="filter-within", select_on_focus=False
            )
        yield Static(id="search-status", classes="status")
        with Horizontal():
            with Vertical(id="results-pane"):
                yield FittedTable(id="search-results", cursor_type="row", zebra_stripes=True)
                # The highlighted hit whole: a narrow table cuts its text and columns.
                yield Static(id="search-hit", classes="detail")
            with VerticalScroll(id="facets-pane"):  # Tab, then the arrows scroll it
                yield Static(id="search-facets", classes="detail")
        yield StatusLine()
        yield KeysFooter()

    def on_mount(self) -> None:
        self._set_columns()
        self._show_hit(None)
        self.query_one("#search-status", Static).update(
            Text(
                "Type to search; Enter or ↓ goes to the results. Ctrl+O switches mode, "
                "Ctrl+T queries/clusters."
            )
        )
        self.watch(self.app, "generation", lambda _: self.load_runs(), init=False)
        self.watch(self.app, "run_id", self._run_changed, init=False)
        self.load_runs()
        self.warm_up()

    @work(thread=True, exclusive=True, group="search-warm-up", exit_on_error=False)
    def warm_up(self) -> None:
        """Load the embedding model and open the index before the first keystroke needs them."""
        with self.app.search_lock, contextlib.suppress(LmsysError):  # a search reports it
            searcher = self.app.searcher(self.app.run_id)
            searcher.warm_up(self._warm_up_progress)
            if not searcher.models:
                self.app.call_from_thread(self._without_models)

    def _without_models(self) -> None:
        """Data without a model field: no model column or filter that could only be empty."""
        self.has_models = False
        self.query_one("#filter-model", Input).display = False
        if self.target == "queries":
            self._set_columns()
            self.schedule()

    def _warm_up_progress(self, event: Progress) -> None:
        """Building the keyword index after a load takes seconds at 1M: say so."""
        if event.total:
            line = f"Building the keyword index: {event.done:,} of {event.total:,} queries…"
            if event.done == event.total:
                line = "Keyword index ready. Type to search."
            status = self.query_one("#search-status", Static)
            self.app.call_from_thread(status.update, Text(line))

    @work(thread=True, exclusive=True, group="search-runs", exit_on_error=False)
    def load_runs(self) -> None:
        cursor = self.app.cursor()
        runs = [run.run_id for run in list_runs(cursor)] if cursor is not None else []
        self.app.call_from_thread(self.show_runs, runs)

    def show_runs(self, runs: list[str]) -> None:
        select = self.query_one("#filter-run", Select)
        with self.prevent(Select.Changed):
            select.set_options([(run_id, run_id) for run_id in runs])
            if self.app.run_id in runs:
                select.value = self.app.run_id
            elif runs:
                select.value = runs[0]
        self.schedule()

    def _run_changed(self, run_id: str | None) -> None:
        select = self.query_one("#filter-run", Select)
        if run_id is not None and select.value != run_id:
            with self.prevent(Select.Changed):
                select.value = run_id

    def _set_columns(self) -> None:
        table = self.query_one("#search-results", FittedTable)
        if self.target == "queries":
            # The text right after the id and score, with the room the pane leaves; the
            # model, then the language give way on a narrow terminal (the line under the
            # table names them).
            table.set_columns(
                [
                    ("id", 8),
                    ("score", 6),
                    ("query", 40),
                    ("cluster", 7),
                    ("language", 10),
                    *([("model", 14)] if self.has_models else []),
                ],
                text="query",
                drop_order=["model", "language"],
            )
        else:
            # The size before the title: a narrow terminal cuts the title, not the size.
            table.set_columns(
                [("cluster", 7), ("score", 6), ("size", 7), ("title", 40), ("description", 20)],
                text="description",
                drop_order=["description"],
                text_room=20,
            )

    @on(Input.Changed)
    def schedule(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE_SECONDS, self._start_search)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        """Enter in a field: to the results, now or when the search under way ends."""
        if not self._focus_results():
            if self._debounce is not None:
                self._debounce.stop()
            self.results_wanted = self._start_search()

    def action_to_results(self) -> None:
        self._focus_results()

    def _focus_results(self) -> bool:
        """Focus the results, if there are any (then True)."""
        table = self.query_one("#search-results", DataTable)
        if table.row_count:
            self.results_wanted = False
            table.focus()
        return table.row_count > 0

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "search-target":
            self.target = str(event.value)
            self._set_columns()
        elif event.select.id == "filter-run" and event.value is not Select.NULL:
            self.app.run_id = str(event.value)
        self.schedule()

    def _start_search(self) -> bool:
        """Search for the fields' text, unless there is none (then False)."""
        text = self.query_one("#search-input", Input).value.strip()
        if not text:
            return False
        filters = SearchFilters(
            language=self.query_one("#filter-language", Input).value.strip() or None,
            model=self.query_one("#filter-model", Input).value.strip() or None,
            within_clusters=self.query_one("#filter-within", Input).value.strip() or None,
        )
        mode = str(self.query_one("#search-mode", Select).value)
        self.query_one("#search-status", Static).update(Text("searching…"))
        self.run_search(text, mode, self.target, filters)
        return True

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def run_search(self, text: str, mode: str, target: str, filters: SearchFilters) -> None:
        worker = get_current_worker()
        try:
            with self.app.search_lock:
                if worker.is_cancelled:
                    return
                searcher = self.app.searcher(self.app.run_id)
                if target == "clusters":
                    result = searcher.search_clusters(text, k=50)
                else:
                    result = searcher.search_queries(text, mode=mode, n=100, filters=filters)
        except LmsysError as error:
            if not worker.is_cancelled:
                self.app.call_from_thread(self.show_error, str(error))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self.show_results, target, result)

    def show_error(self, message: str) -> None:
        self.results_wanted = False
        self.query_one("#search-status", Static).update(Text(one_line(message), style="red"))

    def show_results(self, target: str, result) -> None:
        table = self.query_one("#search-results", FittedTable)
        table.clear_rows()
        self.hits = {}
        self._show_hit(None)
        facets = Text()
        if target == "clusters":
            for hit in result:
                self.hits[f"c{hit.cluster_id}"] = Text.assemble(
                    (one_line(hit.title, 120), "bold"),
                    f"\ncluster {hit.cluster_id} · {hit.size:,} queries · ",
                    one_line(hit.description, 300),
                )
                cells = {
                    "cluster": str(hit.cluster_id),
                    "score": f"{hit.score:.3f}",
                    "size": Text(f"{hit.size:,}", justify="right"),
                    "title": Text(one_line(hit.title, 60)),
                    "description": Text(one_line(hit.description, 120)),
                }
                table.add_cells(cells, key=f"c{hit.cluster_id}")
            status = count_of(len(result), "cluster")
        else:
            titles = {f.value: f.label for f in result.facets.get("cluster", [])}
            for hit in result.hits:
                self.hits[f"q{hit.query_id}"] = describe_hit(hit, titles.get(hit.cluster_id))
                cells = {
                    "id": str(hit.query_id),
                    "score": f"{hit.score:.3f}",
                    "query": hit_text_cell(hit, 160),
                    "cluster": "-" if hit.cluster_id is None else str(hit.cluster_id),
                    "language": Text(one_line(hit.language, 12)),
                    "model": Text(one_line(hit.model, 18)),
                }
                table.add_cells(cells, key=f"q{hit.query_id}")
            status = f"{len(result.hits)} shown of {result.candidates:,} candidates · {result.mode}"
            if result.space_id is None:
                status += " (nothing embedded yet)"
            if result.matches is not None:
                status += f" · {result.matches:,} hold the words"
            if result.within_clusters is not None:
                status += f" · within clusters {', '.join(map(str, result.within_clusters))}"
            for name, counts in result.known_facets().items():
                facets.append(f"{name}\n", style="bold")
                for facet in counts[:8]:
                    facets.append(f"  {facet.count:>6,}  {one_line(facet.label, 28)}\n")
                if len(counts) > 8:
                    facets.append(f"  … {len(counts) - 8} more\n", style="dim")
        self.query_one("#search-facets", Static).update(facets)
        self.query_one("#search-status", Static).update(Text(status))
        wanted, self.results_wanted = self.results_wanted, False
        if wanted:
            self._focus_results()

    @on(DataTable.RowHighlighted, "#search-results")
    def _hit_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_hit(self.hits.get(event.row_key.value))

    def _show_hit(self, described: Text | None) -> None:
        line = self.query_one("#search-hit", Static)
        line.update(described or "")
        line.display = described is not None  # no empty bordered strip

    @on(DataTable.RowSelected, "#search-results")
    def _open(self, event: DataTable.RowSelected) -> None:
        key = str(event.row_key.value)
        if key.startswith("q"):
            self.app.inspect_query(int(key[1:]))
        else:
            self.app.open_cluster(int(key[1:]))

    def action_cycle_mode(self) -> None:
        select = self.query_one("#search-mode", Select)
        values = [value for _, value in MODE_OPTIONS]
        select.value = values[(values.index(select.value) + 1) % len(values)]

    def action_cycle_target(self) -> None:
        select = self.query_one("#search-target", Select)
        select.value = "clusters" if select.value == "queries" else "queries"

    def action_back(self) -> None:
        if self.query_one("#search-results").has_focus or self.query_one("#facets-pane").has_focus:
            self.query_one("#search-input").focus()
        else:
            self.app.switch_mode("clusters")


def describe_hit(hit, cluster_title: str | None) -> Text:
    """A query hit in words: its text (as much as three lines hold), then its cluster,
    language and model."""
    text = Text(one_line(hit.snippet, 300))
    where = [
        "no cluster" if hit.cluster_id is None else f"cluster {hit.cluster_id}",
        *([one_line(cluster_title, 60)] if cluster_title else []),
    ]
    text.append("\n" + ": ".join(where), style="bold")
    for value in (hit.language, hit.model):
        if value:
            text.append(f" · {one_line(value, 30)}", style="dim")
    if hit.copies:
        text.append(f" · asked {hit.copies + 1:,} times (copies shown once)", style="dim")
    return text
