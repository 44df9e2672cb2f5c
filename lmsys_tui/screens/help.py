"""Key bindings of every screen, on `?`."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = [
    (
        "everywhere",
        [
            ("1 2 3 4", "Runs, Clusters, Search, Jobs"),
            ("/", "search"),
            ("ctrl+p", "command palette: go to a run, a cluster or a query id"),
            ("ctrl+r", "reopen the workspace (after a batch job)"),
            ("escape", "back (clears a filter or leaves a field first)"),
            ("j k g G", "down, up, first, last in a list or tree"),
            ("?", "this help"),
            ("ctrl+x", "cancel the running job"),
            ("q", "quit (while a job runs: asks first, then cancels it)"),
        ],
    ),
    (
        "Runs",
        [
            ("enter", "open the run"),
            ("space, c", "mark a run, compare with another"),
            ("d", "delete the run with its names and edits (asks first)"),
        ],
    ),
    (
        "Clusters",
        [
            ("enter", "expand a category; list a cluster's queries"),
            ("right / left", "open a category, step in; close it, step out (also l / h)"),
            ("f", "filter by title (enter or down: back to the tree)"),
            ("s", "sort by size or title"),
            ("enter on a query", "inspect it"),
            ("tab", "to the detail pane: the arrows and j/k scroll it"),
            ("r / t", "rename / tag the highlighted cluster"),
            ("m", "merge other clusters (ids, or one title) into the highlighted one"),
            ("v", "move the highlighted query to another cluster (its id or title)"),
            ("b", "split the highlighted cluster into parts (k-means on its vectors)"),
            ("d", "dissolve the highlighted cluster: its queries become noise (asks first)"),
            ("a", "the run's audit trail of edits"),
            ("u", "undo the run's newest edit (rename, tag, move, merge, split, dissolve)"),
            ("n", "next names: key phrases, taxonomy, LLM summary runs"),
            ("D", "delete the names shown, with their hierarchies (after y)"),
            ("e", "export the run, or a sample of each cluster, to a file (enter: next field)"),
            ("z", "zoom in: cluster the highlighted cluster or category again"),
            ("p", "pictures: sizes, a map of the clusters, the language mix"),
        ],
    ),
    (
        "Query Inspector",
        [
            ("t / n", "text / neighbours"),
            ("enter", "inspect a neighbour"),
            ("y / Y", "copy the text / the id"),
            ("o", "open the text in $PAGER"),
        ],
    ),
    (
        "Search",
        [
            ("enter / down", "from a field to the results"),
            ("ctrl+o", "semantic / keyword / hybrid"),
            ("ctrl+t", "queries / clusters"),
        ],
    ),
    (
        "Jobs",
        [
            ("ctrl+s", "start the job in the form"),
            ("ctrl+x", "cancel the running job"),
            ("escape", "leave a field: digits switch screens again"),
        ],
    ),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", id="close")]

    def compose(self) -> ComposeResult:
        parts = []
        for section, keys in HELP:
            parts.append(Text(section, style="bold"))
            # A grid: on a narrow terminal a description wraps in its own column.
            grid = Table.grid(padding=(0, 2))
            grid.add_column(justify="right", no_wrap=True, min_width=18, style="bold cyan")
            grid.add_column(ratio=1)
            for key, what in keys:
                grid.add_row(key, what)
            parts += [grid, Text()]
        with VerticalScroll(id="help"):
            yield Static(Group(*parts))
