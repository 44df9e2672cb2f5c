"""Pictures of a run: cluster sizes, a map of the clusters (the highlighted one marked),
and the language mix of each top category. plotext draws in the terminal; it is imported
when this screen opens, never at start-up."""

from __future__ import annotations

import itertools

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Header, Static

from ..engine.errors import LmsysError
from ..engine.export import latest_hierarchy
from ..engine.insight.pictures import centroid_map, cluster_sizes, language_mix, share_text
from ..safe_text import one_line
from ..widgets.footer import KeysFooter
from ..widgets.status_line import StatusLine


class PicturesScreen(Screen):
    """Escape goes back."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="back")]

    def __init__(self, run_id: str, summary_run_id: str | None, highlighted: int | None):
        super().__init__()
        self.run_id, self.summary_run_id, self.highlighted = run_id, summary_run_id, highlighted

    def compose(self) -> ComposeResult:
        from textual_plotext import PlotextPlot

        yield Header()
        yield Static(Text(f"pictures of {self.run_id}", style="bold"), id="pictures-title")
        with Vertical():
            with Horizontal(id="pictures-charts"):
                yield PlotextPlot(id="sizes-plot")
                yield PlotextPlot(id="map-plot")
            yield Static(id="language-mix", classes="detail")
        yield StatusLine()
        yield KeysFooter()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="pictures", exit_on_error=False)
    def load(self) -> None:
        cursor = self.app.cursor()
        if cursor is None:
            return
        try:
            sizes = cluster_sizes(cursor, self.run_id)
            points = centroid_map(cursor, self.run_id, self.summary_run_id)
            hierarchy = (
                latest_hierarchy(cursor, self.run_id, self.summary_run_id)
                if self.summary_run_id
                else None
            )
            mix = language_mix(cursor, self.run_id, hierarchy, self.summary_run_id)
        except LmsysError as error:
            self.app.call_from_thread(
                self.query_one("#pictures-title", Static).update,
                Text(one_line(str(error)), style="red"),
            )
            return
        self.app.call_from_thread(self.show, sizes, points, mix)

    def show(self, sizes, points, mix) -> None:
        self.mix = mix
        sizes_plot = self.query_one("#sizes-plot").plt
        sizes_plot.clear_data()
        sizes_plot.bar(list(range(1, len(sizes) + 1)), sizes)
        if sizes:  # counts: whole, evenly spaced ticks (plotext's own were 0, 99.3, 149, ...)
            ticks = size_ticks(max(sizes))
            sizes_plot.yticks(ticks, [f"{tick:,}" for tick in ticks])
        sizes_plot.title(f"cluster sizes ({len(sizes):,})")
        sizes_plot.xlabel("rank, largest first")
        self.query_one("#sizes-plot").refresh()

        map_plot = self.query_one("#map-plot").plt
        map_plot.clear_data()
        others = [p for p in points if p.cluster_id != self.highlighted]
        map_plot.scatter([p.x for p in others], [p.y for p in others], marker="dot")
        marked = [p for p in points if p.cluster_id == self.highlighted]
        title = "map of centroids (PCA)"
        if marked:
            map_plot.scatter([marked[0].x], [marked[0].y], marker="X", color="red")
            title = f"X = {one_line(marked[0].title, 30)}"
        map_plot.title(title)
        self.query_one("#map-plot").refresh()

        by = "top category" if mix.row == "category" else "largest cluster"
        table = Table(mix.row, *mix.languages, title=f"languages by {by} (share)")
        for category, counts in zip(mix.categories, mix.counts, strict=True):
            total = int(counts.sum()) or 1
            cells = []
            for n in counts:
                share = n / total
                shade = "on #1f4f6f" if share >= 0.5 else "on #18384d" if share >= 0.1 else ""
                cells.append(Text(share_text(int(n), total), style=shade))
            table.add_row(Text(one_line(category, 40)), *cells)
        self.query_one("#language-mix", Static).update(table)


def size_ticks(largest: int, most: int = 5) -> list[int]:
    """Up to `most` ticks from 0 in steps of 1, 2 or 5 times a power of ten."""
    steps = (factor * 10**power for power in itertools.count() for factor in (1, 2, 5))
    step = next(step for step in steps if largest // step < most)
    return list(range(0, largest + 1, step))
