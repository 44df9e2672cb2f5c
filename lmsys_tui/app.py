"""The Textual app: modes for Runs, Clusters, Search and Jobs; the Query Inspector on top.

The first screen is drawn before DuckDB, numpy or the other screens are imported: the
workspace opens in a worker and the Runs table fills when it is open (benchmarks/
cold_start.py measures both against a bare Textual app).

DuckDB lets one process write a database, or several read it. The TUI reads through a
read-only connection and closes it while its own jobs write. A `--run-job` process started
meanwhile is refused with "workspace in use"; a TUI started while a batch job writes shows
that message and reopens on Ctrl+R. Neither side can corrupt the other.
"""

from __future__ import annotations

import contextlib
import threading
import time
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual._context import active_app
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from .engine import DATABASE_FILE
from .engine.errors import LmsysError, WorkspaceError, failure_line
from .palette import GoToProvider
from .screens.runs import RunsScreen
from .screens.welcome import WelcomeScreen
from .text_keys import text_binding, unless_typing

if TYPE_CHECKING:
    from .engine.workspace import Workspace

# A terminal narrower than this gets the narrow layouts (app.tcss): the cluster tree takes
# half of it, not two fifths (at 100 columns two fifths cut titles after ~30 characters).
NARROW_COLUMNS = 120

# Printed once the terminal is back, while the job's thread finishes its batch.
QUIT_DURING_JOB = (
    "lmsys-tui: cancelling the running job at the end of its batch; what it committed is "
    "kept, and running the job again resumes it"
)


def _screen(module: str, name: str):
    """A mode's screen, its module imported when the mode is first shown."""

    def make() -> Screen:
        return _styled_now(getattr(import_module(f".screens.{module}", __package__), name)())

    return make


def _styled_now(screen: Screen) -> Screen:
    """Textual re-parses and re-applies all the CSS, twice, when it switches to a mode's
    screen for the first time, as if the theme had changed since the screen was made (a
    screen's count of CSS updates starts at -1). It was just made, and is styled when
    mounted: mark it current (pressing 4 took ~300 ms less, 2 ~100 ms). A screen's own
    CSS is still read: Textual loads that apart."""
    screen._css_update_count = active_app.get()._css_update_count
    return screen


class LmsysApp(App):
    """Explore a workspace: runs, a hierarchy of clusters, queries, search, jobs."""

    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {GoToProvider}
    TITLE = "lmsys-tui"
    # The Runs screen is the default mode's screen: a screen of MODES is mounted before
    # the app is ready and re-applies all the CSS first (~50 ms more to the first frame).
    # on_mount adds "runs" to the modes, so that 1 switches back to it.
    DEFAULT_MODE = "runs"
    MODES = {
        "clusters": _screen("clusters", "ClustersScreen"),
        "search": _screen("search", "SearchScreen"),
        "jobs": _screen("jobs", "JobsScreen"),
    }
    BINDINGS = [
        Binding("1", "switch_mode('runs')", "Runs", id="runs"),
        Binding("2", "switch_mode('clusters')", "Clusters", id="clusters"),
        Binding("3", "switch_mode('search')", "Search", id="search"),
        Binding("4", "switch_mode('jobs')", "Jobs", id="jobs"),
        text_binding("slash", "focus_search", "Find", id="find"),
        Binding("question_mark,f1", "help", "Help", id="help"),
        Binding("ctrl+r", "refresh_workspace", "Refresh", id="refresh"),
        # Shown while a job runs; on Jobs, that screen's own ctrl+x goes first.
        Binding("ctrl+x", "cancel_job", "Cancel job", id="cancel-job"),
        Binding("q", "quit", "Quit", id="quit"),
        # Vim-style movement in lists and trees (a focused input keeps these letters).
        Binding("j", "move('down')", "Down", show=False, id="move-down"),
        Binding("k", "move('up')", "Up", show=False, id="move-up"),
        Binding("g", "move('first')", "First", show=False, id="move-first"),
        Binding("G", "move('last')", "Last", show=False, id="move-last"),
    ]

    run_id: reactive[str | None] = reactive(None)
    generation: reactive[int] = reactive(0)  # bumped when the workspace changes
    job_status: reactive[str] = reactive("")  # the running job's stage, for the status line

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.ws: Workspace | None = None
        self.workspace_error: str | None = None
        self.opening = True  # until the first opening of the workspace has finished
        self.searchers: dict = {}
        self.search_prepared = False
        self._table_sorts: dict[int, tuple] = {}  # table -> (column, reversed)
        # Searchers share one cursor each; one search at a time keeps DuckDB calls serial.
        self.search_lock = threading.RLock()
        self.asking_to_quit = False

    # -- workspace -------------------------------------------------------------------------

    def open_workspace(self) -> None:
        """(Re)open the workspace read-only; remember why when it cannot be opened."""
        from .engine.workspace import open_workspace

        self.close_workspace()
        try:
            self.ws = open_workspace(self.data_dir, read_only=True)
            self.workspace_error = None
        except LmsysError as error:
            self.ws = None
            self.workspace_error = str(error)

    def close_workspace(self, reason: str | None = None) -> None:
        """Close the read-only connection. A worker may still be mid-query on a cursor of
        it (quitting at once after start): interrupt that query and retry briefly instead
        of crashing with "connection is busy"."""
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.con.interrupt()
            for _ in range(40):
                try:
                    ws.close()
                    break
                except Exception:  # duckdb: busy with another call; it ends on interrupt
                    time.sleep(0.025)
        self.searchers.clear()
        if reason:
            self.workspace_error = reason

    def workspace_exists(self) -> bool:
        return (self.data_dir / DATABASE_FILE).exists()

    def cursor(self):
        """A DuckDB cursor for the calling thread, or None when no workspace is open."""
        return self.ws.con.cursor() if self.ws is not None else None

    def has_queries(self) -> bool:
        if self.ws is None:
            return False
        return self.ws.con.cursor().execute("SELECT count(*) FROM queries").fetchall()[0][0] > 0

    def searcher(self, run_id: str | None):
        """A Searcher for the run, made once per workspace opening; call with search_lock.

        Raises:
            LmsysError: no workspace, or the run or its space cannot be searched.
        """
        from .engine.retrieval.search import Searcher
        from .engine.workspace import Workspace

        if self.ws is None:
            raise WorkspaceError(self.workspace_error or "no workspace open")
        if run_id not in self.searchers:
            own = Workspace(self.ws.root, self.ws.con.cursor())
            self.searchers[run_id] = Searcher(own, run_id=run_id)
        return self.searchers[run_id]

    @work(thread=True, exclusive=True, group="search-prepare", exit_on_error=False)
    def prepare_search(self) -> None:
        """Once the first screen shows data: import the Search screen and load the ONNX
        query encoder in the background, so a first search a second later answers in
        0.6 s instead of 1.1 s (benchmarks/cold_start.py --think 1; ~180 MB of memory).
        Never torch (seconds, ~1 GB) and never the indexes (building one can take
        seconds): Search loads those when it opens."""
        if self.search_prepared or self.ws is None:
            return
        self.search_prepared = True
        from .engine.embedding.query_encoder import has_export
        from .screens import search  # noqa: F401 - the import is half the preparation

        with self.search_lock, contextlib.suppress(Exception):  # Search reports any error
            searcher = self.searcher(self.run_id)
            space_id = searcher.space_id
            if space_id and has_export(searcher.ws, space_id):
                _ = searcher.embedder

    # -- lifecycle -------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        return _styled_now(RunsScreen())

    def on_mount(self) -> None:
        self.add_mode("runs", RunsScreen)  # its screen exists: only switching needs this
        self.on_resize()
        # After the first frame: the worker's imports would hold the GIL while it is drawn.
        self.call_after_refresh(self._open_at_start)

    def on_resize(self, event=None) -> None:
        """A terminal under 100 columns gets the narrow layouts of app.tcss (`App.-narrow`):
        the clusters tree takes half the width."""
        # Before App's own handler: self.size is still the old size here.
        width = event.size.width if event is not None else self.size.width
        self.set_class(width < NARROW_COLUMNS, "-narrow")

    @work(thread=True, exclusive=True, group="workspace", exit_on_error=False)
    def _open_at_start(self) -> None:
        """Import DuckDB and open the workspace after the first screen is drawn."""
        try:
            self.open_workspace()
        except Exception as error:  # never leave the screens waiting on "Opening…"
            self.workspace_error = f"cannot open the workspace: {error}"
        finally:
            self.call_from_thread(self._opened)

    def _opened(self) -> None:
        self.opening = False
        self.generation += 1  # every screen shown so far loads its data now
        missing = self.ws is None and not self.workspace_exists()
        if self.ws is None and not missing:
            self.notify(self.workspace_error, title="Workspace", severity="error", markup=False)
        elif missing or not self.has_queries():
            self.push_screen(WelcomeScreen())

    def on_unmount(self) -> None:
        self.close_workspace()

    def workspace_changed(self) -> None:
        """Reopen after a job and tell every screen to reload."""
        self.open_workspace()
        self.generation += 1

    # -- actions ---------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Quit; while a job runs, ask first: it stops at its next batch, which can take
        seconds, and the terminal should say so rather than sit blank."""
        if not self._running_jobs():
            self.exit()
            return
        if self.asking_to_quit:
            return
        from .screens.prompt import ConfirmScreen

        def answered(yes: bool | None) -> None:
            self.asking_to_quit = False
            if not yes:
                return
            running = self._running_jobs()  # the job may have ended while asking
            for worker in running:
                worker.cancel()
            self.exit(message=QUIT_DURING_JOB if running else None)

        self.asking_to_quit = True
        self.push_screen(
            ConfirmScreen(
                "A job is running. Quit and cancel it?",
                "What it has committed is kept; running the job again resumes it.",
            ),
            answered,
        )

    def open_run(self, run_id: str) -> None:
        self.run_id = run_id
        self.switch_mode("clusters")

    @work(group="navigation")
    async def open_cluster(self, cluster_id: int) -> None:
        """Show a cluster of the current run in the Clusters screen."""
        await self.switch_mode("clusters")
        self.screen.open_cluster(cluster_id)

    def start_quickstart(self) -> None:
        """Load the bundled sample and run the whole pipeline, as the quickstart job does,
        then open the run it made: what the person pressed `l` to see."""
        from .engine.specs import quickstart_spec

        self.start_job(quickstart_spec(), open_run=True)

    @work(group="navigation")
    async def start_job(self, spec, open_run: bool = False) -> None:
        """Run a job on the Jobs screen (with its progress); `open_run`: open the run it
        made when it finishes."""
        await self.switch_mode("jobs")
        self.screen.start(spec, open_run=open_run)

    def run_edit(
        self, describe: str, edit, titles=("Edited", "Edit failed"), doing=None, done=None
    ) -> None:
        """Apply a curation edit `edit(ws)` with a writable workspace, in a worker; say at
        once that it is saving (re-embedding a summary can take seconds), or `doing`.
        `describe` may be a function of what the edit returned (then `doing` is needed).
        `done()` runs after a successful edit, before the screens reload."""
        self.notify(doing or f"{describe}: saving…", markup=False)
        self._edit_worker(describe, edit, titles, done)

    @work(thread=True, exclusive=True, group="edits", exit_on_error=False)
    def _edit_worker(self, describe: str, edit, titles, done) -> None:
        from .engine.workspace import open_workspace

        with self.search_lock:
            self.call_from_thread(self.close_workspace, "an edit is writing the workspace")
        try:
            with open_workspace(self.data_dir) as ws:
                returned = edit(ws)
        except Exception as error:
            why = str(error) if isinstance(error, ValueError) else failure_line(error)
            if why is None:
                raise
            self.call_from_thread(self.notify, why, title=titles[1], severity="error", markup=False)
        else:
            if done is not None:
                self.call_from_thread(done)
            said = describe(returned) if callable(describe) else describe
            self.call_from_thread(self.notify, said, title=titles[0], markup=False)
        finally:
            self.call_from_thread(self.workspace_changed)

    def confirm_deletion(self, what: str, detail: str, delete, done=None) -> None:
        """Ask "Delete `what`?" with `detail` (what goes, counted); only on `y` run
        `delete(ws)` as an edit, then `done()`."""
        from .screens.prompt import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_edit(
                    f"Deleted {what}",
                    delete,
                    titles=("Deleted", "Delete failed"),
                    doing=f"Deleting {what}…",
                    done=done,
                )

        self.push_screen(ConfirmScreen(f"Delete {what}?", detail), answered)

    @work(thread=True, exclusive=True, group="counts", exit_on_error=False)
    def count_then(self, count, then) -> None:
        """Count what a deletion would take, `count(ws)` read in a worker, then call
        `then(contents)` to ask; a failure (deleted meanwhile by the CLI) is notified."""
        from .engine.workspace import Workspace

        cursor = self.cursor()
        try:
            if cursor is None:
                raise LmsysError(self.workspace_error or "no workspace open")
            contents = count(Workspace(self.data_dir, cursor))
        except LmsysError as error:
            self.call_from_thread(self.notify, str(error), severity="error", markup=False)
            return
        self.call_from_thread(then, contents)

    def job_running(self) -> bool:
        return bool(self._running_jobs())

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """ctrl+x (cancel the job) is offered on every screen while a job runs only."""
        if action == "cancel_job":
            return self.job_running()
        return True

    def watch_job_status(self, old: str, new: str) -> None:
        if bool(old) != bool(new):  # a job started reporting, or ended
            self.refresh_bindings()

    def action_cancel_job(self) -> None:
        running = self._running_jobs()
        for worker in running:
            worker.cancel()
        if running:
            self.notify("Cancelling the job: it stops at its next batch; what it committed is kept")

    def _running_jobs(self) -> list:
        return [w for w in self.workers if w.group == "jobs" and w.is_running]

    def inspect_query(self, query_id: int) -> None:
        from .screens.inspector import InspectorScreen

        self.push_screen(InspectorScreen(query_id))

    @unless_typing
    async def action_focus_search(self) -> None:
        """The search field, focused at once: what is typed right after `/` is the search."""
        await self.switch_mode("search")
        self.screen.set_focus(self.screen.query_one("#search-input"))

    def action_move(self, where: str) -> None:
        """j/k/g/G on the focused table, tree or scrolling pane, as the arrow, Home and End
        keys."""
        widget = self.focused
        names = {
            "down": ["action_cursor_down", "action_scroll_down"],
            "up": ["action_cursor_up", "action_scroll_up"],
            "first": ["action_scroll_top", "action_scroll_home"],
            "last": ["action_scroll_bottom", "action_scroll_end"],
        }[where]
        action = next((getattr(widget, n) for n in names if hasattr(widget, n)), None)
        if action is not None:
            action()

    def on_data_table_header_selected(self, event) -> None:
        """Click a column header to sort any table by it; again to reverse (loaded rows)."""
        table = event.data_table
        reverse = self._table_sorts.get(id(table)) == (event.column_key, False)
        table.sort(event.column_key, key=_sort_key, reverse=reverse)
        self._table_sorts[id(table)] = (event.column_key, reverse)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_refresh_workspace(self) -> None:
        self.workspace_changed()
        if isinstance(self.screen, WelcomeScreen) and self.has_queries():
            self.screen.dismiss()  # a batch job filled the workspace meanwhile
        if self.ws is None:
            self.notify(self.workspace_error or "no workspace", severity="warning", markup=False)
        else:
            self.notify("Workspace reloaded")


def _sort_key(value) -> tuple:
    """Numbers as numbers ("1,234", "12.5%"), everything else as lowercase text."""
    text = str(value).strip()
    try:
        return (0, float(text.replace(",", "").rstrip("%")), "")
    except ValueError:
        return (1, 0.0, text.lower())


def make_app(data_dir: Path) -> LmsysApp:
    """The one app factory, used by the CLI and by the tests."""
    return LmsysApp(data_dir)
