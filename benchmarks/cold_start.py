"""TUI start-up and search latency, each in a fresh headless process, against a bare
Textual app measured in the same run.

    python benchmarks/cold_start.py WORKSPACE [--repeat 5] [--think 1.0]

WORKSPACE is an existing workspace (the quickstart's, or the 1M-query one that
`benchmarks/search.py --keep DIR` leaves in DIR/1000000/ws). Three figures per process:

- first paint: launch (imports included) until the Runs screen is drawn (its table has
  its columns; the workspace is still opening in a worker); the baseline is a bare Textual
  app that fills a DataTable in `on_mount` (its first paint shows its rows);
- first screen: launch until the Runs table shows rows (DuckDB imported, the workspace
  open, the runs read);
- first results: from pressing 3 (Search), with the query pasted into the box at once,
  until results are shown (the search model loads meanwhile). 3 is pressed as soon as
  the runs are shown, or `--think` seconds later, as a person would: the app loads the
  query encoder in the background once the runs are shown;
- keystroke: the debounce (0.06 s) plus the search it starts until its results are shown
  (the test driver's own key handling is not counted);
- clusters and jobs shown: from pressing 2 (then 4), each screen shown for the first
  time, until the clusters tree has its top level (the jobs screen its table).

Wall and CPU time are printed side by side; this machine is shared, so read the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from _common import machine

BASELINE = """
import json, sys, time
started = time.perf_counter(); cpu = time.process_time()
from textual.app import App
from textual.widgets import DataTable, Footer, Header

class Bare(App):
    def compose(self):
        yield Header(); yield DataTable(); yield Footer()
    def on_mount(self):
        table = self.query_one(DataTable)
        table.add_columns("run", "size")
        table.add_row("kmeans-50", "9434")

async def main():
    app = Bare()
    async with app.run_test(size=(120, 36)) as pilot:
        while app.query_one(DataTable).row_count == 0:
            await pilot.pause(0.005)
        print(json.dumps({"first_screen": time.perf_counter() - started,
                          "first_screen_cpu": time.process_time() - cpu}))

import asyncio; asyncio.run(main())
"""

CHILD = """
import json, sys, time
started = time.perf_counter(); cpu = time.process_time()
from lmsys_tui.app import make_app
from textual.widgets import DataTable

shown = []
started_searches = []

def instrument_search():
    # Hook the Search screen, imported here after the first screen: the app imports it
    # when 3 is pressed, so that import counts in "first results".
    from lmsys_tui.screens.search import SearchScreen

    original = SearchScreen.show_results
    def show_results(self, target, result):
        original(self, target, result)
        shown.append(time.perf_counter())
    SearchScreen.show_results = show_results
    original_start = SearchScreen._start_search
    def start_search(self):
        started_searches.append(time.perf_counter())
        original_start(self)
    SearchScreen._start_search = start_search

async def wait_for(pilot, condition, limit=120.0):
    deadline = time.perf_counter() + limit
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit("timed out")
        await pilot.pause(0.002)

async def main():
    app = make_app(sys.argv[1])
    figures = {}
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: len(app.screen.query_one(DataTable).columns) > 0)
        figures["first_paint"] = time.perf_counter() - started
        figures["first_paint_cpu"] = time.process_time() - cpu
        figures["duckdb_at_first_paint"] = "duckdb" in sys.modules
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count > 0)
        figures["first_screen"] = time.perf_counter() - started
        figures["first_screen_cpu"] = time.process_time() - cpu
        figures["heavy_modules"] = [m for m in ("torch", "sentence_transformers", "litellm")
                                    if m in sys.modules]
        await pilot.pause(float(sys.argv[2]))  # --think
        opened = time.perf_counter()
        instrument_search()
        from lmsys_tui.screens.search import DEBOUNCE_SECONDS
        await pilot.press("3")
        # The query arrives as one change (a paste): the driver's per-key cost is not counted.
        app.screen.query_one("#search-input").value = "vector database"
        await wait_for(pilot, lambda: shown)
        figures["first_results"] = shown[-1] - opened
        for key in "s?":
            before = len(shown)
            await pilot.pause(0.5)
            await pilot.press(key)
            await wait_for(pilot, lambda: len(shown) > before)
            figures.setdefault("keystroke", []).append(
                DEBOUNCE_SECONDS + shown[-1] - started_searches[-1])
        # Each other screen, shown for the first time (its module imported then).
        from textual.widgets import Tree
        app.set_focus(None)  # the search box would take the 2 as text
        await pilot.pause(0.5)
        pressed = time.perf_counter()
        await pilot.press("2")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ClustersScreen"
                       and app.screen.query_one(Tree).root.children)
        figures["clusters_shown"] = time.perf_counter() - pressed
        await pilot.pause(0.5)
        pressed = time.perf_counter()
        await pilot.press("4")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "JobsScreen"
                       and app.screen.query(DataTable))
        figures["jobs_shown"] = time.perf_counter() - pressed
    print(json.dumps(figures))

import asyncio; asyncio.run(main())
"""


def run(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workspace")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--think", type=float, default=0.0, help="seconds before pressing 3")
    args = parser.parse_args()
    bare, app = [], []
    for _ in range(args.repeat):  # interleaved, so both see the same machine load
        bare.append(run(BASELINE))
        app.append(run(CHILD, args.workspace, str(args.think)))
    print(f"# cold start on {machine()}; {args.workspace}; {args.repeat} runs each")
    bare_first = [r["first_screen"] for r in bare]
    app_paint = [r["first_paint"] for r in app]
    app_first = [r["first_screen"] for r in app]
    print(
        f"bare Textual app, first screen (rows): {ms(bare_first)}, "
        f"CPU {ms([r['first_screen_cpu'] for r in bare])}"
    )
    print(
        f"lmsys-tui, first paint:               {ms(app_paint)}, "
        f"CPU {ms([r['first_paint_cpu'] for r in app])}; "
        f"{statistics.median(app_paint) / statistics.median(bare_first):.2f}x the bare app "
        f"(DuckDB imported by then: {app[-1]['duckdb_at_first_paint']})"
    )
    print(
        f"lmsys-tui, runs shown:                {ms(app_first)}, "
        f"CPU {ms([r['first_screen_cpu'] for r in app])}; "
        f"{statistics.median(app_first) / statistics.median(bare_first):.2f}x the bare app"
    )
    print(f"heavy modules imported before the first screen: {app[-1]['heavy_modules'] or 'none'}")
    print(
        f"Search screen opened {args.think:g} s after the runs -> first results: "
        f"{ms([r['first_results'] for r in app])}"
    )
    print(f"keystroke -> new results: {ms([k for r in app for k in r['keystroke']])}")
    print(f"2 pressed -> clusters tree shown: {ms([r['clusters_shown'] for r in app])}")
    print(f"4 pressed -> jobs shown: {ms([r['jobs_shown'] for r in app])}")


if __name__ == "__main__":
    main()
