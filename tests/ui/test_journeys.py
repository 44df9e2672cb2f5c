"""Pilot tests of the main journeys through the TUI, on the deterministic workspace."""

from __future__ import annotations

import contextlib

import pytest
from rich.console import Console
from rich.text import Text
from textual import events
from textual.keys import _character_to_key
from textual.widgets import Checkbox, DataTable, Input, Select, Static, Tree
from textual.worker import WorkerCancelled

from lmsys_tui.app import make_app
from lmsys_tui.engine.workspace import open_workspace
from lmsys_tui.screens.clusters import ClustersScreen
from lmsys_tui.screens.inspector import InspectorScreen
from lmsys_tui.screens.runs import RunsScreen
from lmsys_tui.screens.welcome import WelcomeScreen
from tests.ui_workspace import HOSTILE_TEXTS, query_id_of

SIZE = (120, 36)


async def settle(pilot) -> None:
    """Let workers finish and their results reach the widgets."""
    for _ in range(3):
        with contextlib.suppress(WorkerCancelled):  # replaced by a newer exclusive worker
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def wait_until(pilot, condition, timeout: float = 10.0) -> None:
    """Pause until `condition()` holds (a worker's result reached the screen)."""
    waited = 0.0
    while not condition():
        assert waited < timeout, "the screen never reached the expected state"
        await pilot.pause(0.05)
        waited += 0.05
    await settle(pilot)


@contextlib.asynccontextmanager
async def clusters_of_k3(root, size=SIZE):
    """The app on `root`, settled on the Clusters screen of run k3."""
    app = make_app(root)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.open_run("k3")
        await settle(pilot)
        yield app, pilot


def static_text(screen, selector: str) -> str:
    return shown_text(screen.query_one(selector, Static))


def shown_text(static: Static) -> str:
    """What a Static shows, as plain text (a layout of several parts rendered unwrapped)."""
    content = static.content
    if isinstance(content, str | Text):
        return str(content)
    console = Console(width=200, color_system=None)
    with console.capture() as captured:
        console.print(content)
    return captured.get()


async def test_runs_to_clusters_to_query_to_neighbour_and_back(ui_root):
    app = make_app(ui_root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert app.screen.query_one(DataTable).row_count == 1
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ClustersScreen) and app.run_id == "k3"
        tree = app.screen.query_one(Tree)
        tree.focus()
        top = tree.root.children[0]
        assert top.data is None and not top.is_expanded  # a category
        assert tree.cursor_node is top  # highlighted on arrival, explained beside the tree
        assert "category · level" in static_text(app.screen, "#cluster-detail")
        await pilot.press("enter")
        await settle(pilot)
        assert top.is_expanded
        # Down to the first leaf cluster below the category.
        while tree.cursor_node is None or tree.cursor_node.data is None:
            if tree.cursor_node is not None and not tree.cursor_node.is_expanded:
                await pilot.press("enter")
            await pilot.press("down")
        await settle(pilot)
        assert "queries" in static_text(app.screen, "#cluster-detail")
        await pilot.press("enter")
        await settle(pilot)
        table = app.screen.query_one("#cluster-queries", DataTable)
        assert table.has_focus and table.row_count > 0
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InspectorScreen)
        first = app.screen.query_id
        neighbours = app.screen.query_one("#neighbours", DataTable)
        assert neighbours.row_count == 10
        neighbours.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InspectorScreen) and app.screen.query_id != first
        await pilot.press("escape")
        assert isinstance(app.screen, InspectorScreen) and app.screen.query_id == first
        await pilot.press("escape")
        assert isinstance(app.screen, ClustersScreen)


async def test_the_runs_table_names_summaries_by_alias_else_by_their_namer(ui_copy):
    from lmsys_tui.engine.naming.summarize import summarize_run
    from lmsys_tui.engine.specs import SummarizeStep

    with open_workspace(ui_copy) as ws:  # no alias: its id would be cut in the column
        summarize_run(ws, SummarizeStep(model="taxonomy"), "k3")
    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        column = [str(label) for label in (c.label for c in table.columns.values())]
        cell = table.get_row_at(0)[column.index("summaries")]
        assert str(cell) == "taxonomy, offline"


async def test_cluster_filter_and_sort(ui_root):
    async with clusters_of_k3(ui_root) as (app, pilot):
        screen = app.screen
        titles = [c.title for c in screen.clusters]
        word = titles[0].split(",")[0]
        await pilot.press("f")
        await pilot.press(*word)
        await settle(pilot)
        tree = screen.query_one(Tree)
        leaves = [n for n in _walk(tree.root) if n.data is not None]
        assert leaves and all(word.lower() in str(n.label).lower() for n in leaves)
        screen.query_one(Tree).focus()
        await pilot.press("s")
        assert screen.sort == "title"


async def type_at_once(pilot, keys: str) -> None:
    """Keys as a terminal delivers a burst (a fast typist, `tmux send-keys`): all queued
    before the first is handled, where `pilot.press` waits after each."""
    for character in keys:
        key = "enter" if character == "\n" else _character_to_key(character)
        pilot.app.post_message(events.Key(key, character))
    await settle(pilot)


async def test_letters_typed_at_once_after_f_r_or_slash_are_text_not_commands(ui_copy):
    async with clusters_of_k3(ui_copy) as (app, pilot):
        screen = app.screen
        await type_at_once(pilot, "fpython")  # p opened pictures, n switched names
        assert app.screen is screen
        assert screen.query_one("#cluster-filter", Input).value == "python"
        await pilot.press("escape", "escape")  # clear the filter, back to the tree
        tree = screen.query_one(Tree)
        tree.root.expand_all()
        await pilot.pause()
        tree.move_cursor(next(n for n in _walk(tree.root) if n.data is not None))
        await type_at_once(pilot, "rquestions")  # lost before the field had focus
        assert app.screen.query_one("#prompt-input", Input).value == "questions"
        await pilot.press("escape")
        await type_at_once(pilot, "/sql")
        assert app.screen.query_one("#search-input", Input).value == "sql"


async def test_two_runs_compared_side_by_side_fit_the_terminal(ui_copy):
    """Space marks a run, c compares it with the highlighted one: each title shares the
    room, no column is cut at the edge, the line under the table says the row whole."""
    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.specs import ClusterStep, JobSpec, SummarizeStep

    with open_workspace(ui_copy) as ws:
        run_job(
            ws, JobSpec(cluster=ClusterStep(n_clusters=2, run_id="k2"), summarize=SummarizeStep())
        )
    app = make_app(ui_copy)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("space", "down", "c")
        await settle(pilot)
        table = app.screen.query_one("#compare-table", DataTable)
        shown = table.columns.values()
        labels = [str(column.label) for column in shown]
        widths = [column.get_render_width(table) for column in shown]
        assert labels == ["kind", "title in A", "size A", "title in B", "size B"]
        assert sum(widths) <= table.scrollable_content_region.width
        assert widths[1] == widths[3] >= 20 + 2
        detail = static_text(app.screen, "#compare-detail")
        assert detail.startswith("match") and "jaccard" in detail
        await pilot.press("a")  # the row's cluster in run A
        await settle(pilot)
        assert isinstance(app.screen, ClustersScreen)


async def test_split_then_dissolve_a_cluster_from_the_tree(ui_copy):
    async with clusters_of_k3(ui_copy) as (app, pilot):
        screen = app.screen
        tree = screen.query_one(Tree)
        tree.root.expand_all()
        await pilot.pause()
        biggest = max(screen.clusters, key=lambda c: c.size)
        tree.move_cursor(next(n for n in _walk(tree.root) if n.data == biggest.cluster_id))
        await type_at_once(pilot, "b3\n")  # the given 2 replaced by 3
        await settle(pilot)
        sizes = {c.cluster_id: c.size for c in screen.clusters}
        parts = [c for c in screen.clusters if c.cluster_id not in (0, 1, 2)]
        assert len(parts) == 2 and len(sizes) == 5  # 3 clusters became 5
        named = {c.title for c in screen.clusters if c.cluster_id in sizes}
        assert len(named) == 5 and not any("(part" in title for title in named)  # own names
        assert sizes[biggest.cluster_id] + sum(p.size for p in parts) == biggest.size
        part = parts[0]
        tree.move_cursor(next(n for n in _walk(tree.root) if n.data == part.cluster_id))
        await pilot.press("d")
        asked = " ".join(shown_text(static) for static in app.screen.query("#prompt Static"))
        assert f"Delete cluster {part.cluster_id} (" in asked
        assert f"Its {part.size:,} queries become noise (-1)" in asked
        await pilot.press("n")  # kept
        await settle(pilot)
        assert part.cluster_id in {c.cluster_id for c in screen.clusters}
        await pilot.press("d", "y")
        await settle(pilot)
        after = {c.cluster_id: c.size for c in screen.clusters}
        assert part.cluster_id not in after and after[-1] == sizes.get(-1, 0) + part.size
        assert "u undoes it" in asked
        await pilot.press("u")  # the dissolved part comes back, named as it was
        await settle(pilot)
        assert {c.cluster_id: c.size for c in screen.clusters} == sizes
        assert "Undid edit 2 (delete)" in [str(n.message) for n in app._notifications]
        assert part.title in {c.title for c in screen.clusters}
    with open_workspace(ui_copy, read_only=True) as ws:
        actions = ws.con.execute("SELECT action FROM edits ORDER BY edit_id").fetchall()
    assert actions == [("split",), ("delete",), ("restore",)]


async def test_the_audit_shows_the_highlighted_edit_whole(ui_copy):
    from lmsys_tui.engine.curation.edits import rename_cluster

    long_reason = "the old title named only one of its topics; " * 3
    with open_workspace(ui_copy) as ws:
        rename_cluster(ws, "k3", 0, "Databases and SQL", reason=long_reason)
    async with clusters_of_k3(ui_copy) as (app, pilot):
        app.screen.query_one(Tree).focus()
        await pilot.press("a")
        await settle(pilot)
        shown = static_text(app.screen, "#audit-detail")
    assert shown.startswith("edit 1 · rename · ")
    assert "new: title: Databases and SQL" in shown
    assert f"reason: {long_reason.strip()}" in shown  # cut in the table, whole here


async def test_u_takes_back_a_merge_and_its_title_together(ui_copy):
    from lmsys_tui.engine.curation.edits import merge_clusters

    with open_workspace(ui_copy) as ws:  # as `edit merge --clusters 0,1 --title Both` does
        merge_clusters(ws, "k3", [0, 1], title="Both")
    async with clusters_of_k3(ui_copy) as (app, pilot):
        screen = app.screen
        assert 1 not in {c.cluster_id for c in screen.clusters}
        screen.query_one(Tree).focus()
        await pilot.press("u")
        await settle(pilot)
        assert {0, 1} <= {c.cluster_id for c in screen.clusters}
        assert "Both" not in {c.title for c in screen.clusters}
        shown = [str(n.message) for n in app._notifications]
    assert "Undid edits 1 and 2 (a merge and its title)" in shown


async def test_a_question_s_given_value_is_replaced_by_typing_or_kept_to_edit(ui_copy):
    async with clusters_of_k3(ui_copy) as (app, pilot):
        tree = app.screen.query_one(Tree)
        tree.root.expand_all()
        await pilot.pause()
        leaf = next(n for n in _walk(tree.root) if n.data is not None)
        tree.move_cursor(leaf)
        title = next(c.title for c in app.screen.clusters if c.cluster_id == leaf.data)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press(*"Maths")
        assert app.screen.query_one("#prompt-input", Input).value == "Maths"
        await pilot.press("escape", "r")
        await pilot.pause()
        await pilot.press("end", "!")  # an arrow or End keeps the title to edit
        assert app.screen.query_one("#prompt-input", Input).value == title + "!"


def _walk(node):
    for child in node.children:
        yield child
        yield from _walk(child)


async def test_search_filter_and_open(ui_root):
    app = make_app(ui_root)
    async with app.run_test(size=(160, 36)) as pilot:  # wide: the model column shows
        await settle(pilot)
        await pilot.press("slash")
        await pilot.press(*"sql join")
        screen = app.screen
        await wait_until(pilot, lambda: "candidates" in static_text(screen, "#search-status"))
        results = screen.query_one("#search-results", DataTable)
        assert results.row_count > 0
        assert "candidates" in static_text(screen, "#search-status")
        assert "cluster" in static_text(screen, "#search-facets")
        screen.query_one("#filter-model", Input).value = "gpt-4"
        await pilot.pause(0.4)
        await wait_until(pilot, lambda: "candidates" in static_text(screen, "#search-status"))
        models = {str(results.get_row_at(i)[5]) for i in range(results.row_count)}
        assert models == {"gpt-4"}
        results.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InspectorScreen)


async def test_enter_or_down_in_the_search_field_goes_to_the_results(ui_root):
    app = make_app(ui_root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        screen = app.screen
        field = screen.query_one("#search-input", Input)
        results = screen.query_one("#search-results", DataTable)
        await pilot.press("down")  # nothing to go to yet: the field keeps the keys
        assert field.has_focus
        await pilot.press(*"sql join", "enter")  # before the results come
        await wait_until(pilot, lambda: results.has_focus)
        assert results.row_count > 0 and results.cursor_row == 0
        # The highlighted hit whole below the table, with its cluster's title.
        await pilot.press("down", "up")
        shown = static_text(screen, "#search-hit")
        text, where = shown.rsplit("\n", 1)
        assert text == str(results.get_row_at(0)[2])
        cluster = str(results.get_row_at(0)[3])
        assert where.startswith(f"cluster {cluster}: ") and "English" in where
        await pilot.press("down", "escape")
        assert field.has_focus and field.value == "sql join"
        await pilot.press("down")
        assert results.has_focus
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InspectorScreen)


async def test_search_has_no_model_column_or_filter_for_data_without_models(ui_copy):
    with open_workspace(ui_copy) as ws:
        ws.con.execute("UPDATE queries SET model = NULL")
    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        screen = app.screen
        await wait_until(pilot, lambda: not screen.has_models)
        await pilot.press(*"sql join")
        await wait_until(pilot, lambda: "candidates" in static_text(screen, "#search-status"))
        results = screen.query_one("#search-results", DataTable)
        labels = [str(column.label) for column in results.columns.values()]
        assert results.row_count > 0 and "model" not in labels and "language" in labels
        assert not screen.query_one("#filter-model", Input).display
        assert "model" not in static_text(screen, "#search-facets")


async def test_cluster_search_shows_each_size_on_an_80_column_terminal(ui_root):
    with open_workspace(ui_root, read_only=True) as ws:
        sizes = dict(ws.con.execute("SELECT run_id || cluster_id, size FROM clusters").fetchall())
    app = make_app(ui_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", "ctrl+t", *"sql join")
        screen = app.screen
        await wait_until(pilot, lambda: "clusters" in static_text(screen, "#search-status"))
        results = screen.query_one("#search-results", DataTable)
        labels = [str(column.label) for column in results.columns.values()]
        size_at = labels.index("size")
        widths = [column.get_render_width(results) for column in results.columns.values()]
        assert sum(widths[: size_at + 1]) <= results.scrollable_content_region.width
        first = results.get_row_at(0)
        assert (
            str(first[size_at])
            == f"{sizes[screen.query_one('#filter-run', Select).value + str(first[0])]:,}"
        )


async def test_search_results_show_no_column_cut_at_the_edge(ui_root):
    """A cluster id 17 cut to "1" misleads: the text takes the room the pane leaves, the
    model and then the language give way on a narrow terminal, the cluster stays."""
    app = make_app(ui_root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"sql join")
        screen = app.screen
        await wait_until(pilot, lambda: "candidates" in static_text(screen, "#search-status"))
        results = screen.query_one("#search-results", DataTable)

        def columns():
            shown = results.columns.values()
            return [str(c.label) for c in shown], [c.get_render_width(results) for c in shown]

        labels, widths = columns()
        assert labels == ["id", "score", "query", "cluster", "language"]
        assert sum(widths) <= results.scrollable_content_region.width
        assert widths[2] >= 40 + 2
        await pilot.resize_terminal(170, 36)  # wider: the model comes back, rows kept
        await pilot.pause()
        labels, widths = columns()
        assert labels == ["id", "score", "query", "cluster", "language", "model"]
        assert sum(widths) <= results.scrollable_content_region.width
        assert results.row_count > 0 and str(results.get_row_at(0)[5])


async def test_hostile_query_text_is_shown_literally(ui_root):
    app = make_app(ui_root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for name in ("markup", "escapes", "rtl", "long"):
            app.inspect_query(query_id_of(ui_root, f"hostile-{name}"))
            await settle(pilot)
            shown = static_text(app.screen, "#query-text")
            meta = static_text(app.screen, "#query-meta")
            assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
            assert "[red]model[/red]" in meta
            if name == "markup":
                assert HOSTILE_TEXTS["markup"] in shown
            await pilot.press("escape")


async def test_a_job_from_the_form_runs_with_progress_and_refreshes(ui_copy):
    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_job_form(app, pilot, "cluster")
        # What a default means is said under the field's name, not hidden in a placeholder.
        labels = {str(label.render()) for label in screen.query("#job-form Label")}
        size = "min_cluster_size (optional)\nhdbscan: smallest cluster, counted in micro-clusters"
        assert size in labels
        screen.query_one("#job-step").focus()
        # Past naming and grouping (ticked) and the algorithm, to the number of clusters.
        await pilot.press("tab", "tab", "tab", "2")
        assert app.screen is screen and app.focused.id == "field-n_clusters"
        screen.query_one("#field-run_id", Input).value = "k2"
        then = screen.query_one("#then-name-and-group", Checkbox)
        then.value = False  # unticked: the cluster step alone
        assert screen.read_form().summarize is None
        then.value = True
        await pilot.press("ctrl+s")
        await settle(pilot)
        done = static_text(screen, "#job-stage")
        assert "Job finished" in done and "cluster run k2: 2 clusters over 35 queries" in done
        # Named and grouped in the same job, as the form's ticked box says.
        assert "(offline): 2 clusters named" in done and "hierarchy hierarchy-" in done
        jobs = screen.query_one("#jobs-table", DataTable)
        labels = [str(column.label) for column in jobs.columns.values()]
        assert (
            jobs.row_count == 2 and str(jobs.get_row_at(0)[labels.index("status")]) == "succeeded"
        )
        # The newest job whole under the table, the steps the narrow table leaves out.
        assert "steps" not in labels
        assert "succeeded · started" in static_text(screen, "#job-detail")
        assert "steps: cluster, summarize, hierarchy" in static_text(screen, "#job-detail")
        await pilot.press("1")  # typed into the field it is in
        assert app.screen is screen
        assert screen.query_one("#field-n_clusters", Input).value == "21"
        await pilot.press("escape", "1")  # out of the field, then to Runs
        await settle(pilot)
        runs = app.screen.query_one(DataTable)
        assert {str(runs.get_row_at(i)[0]) for i in range(runs.row_count)} == {"k3", "k2"}

        # A summarize step offers the runs: name the older one, not the newest.
        await pilot.press("4")
        await settle(pilot)
        assert app.screen is screen
        screen.query_one("#job-step").value = "summarize"
        await pilot.pause()
        await settle(pilot)
        chosen = screen.query_one("#field-run_id", Select)
        assert {value for _, value in chosen._options if value is not Select.NULL} == {"k3", "k2"}
        chosen.value = "k3"
        screen.query_one("#field-alias", Input).value = "again"
        await pilot.press("ctrl+s")
        await settle(pilot)
        done = static_text(screen, "#job-stage")
        assert "Job finished" in done and "(offline): 3 clusters named" in done
        assert screen.query_one("#jobs-table", DataTable).row_count == 3
        # A run made meanwhile (a batch job, then ctrl+r) is offered; the choice stays.
        from lmsys_tui.engine.jobs import run_job
        from lmsys_tui.engine.specs import ClusterStep, JobSpec

        app.close_workspace()
        with open_workspace(ui_copy) as ws:
            run_job(ws, JobSpec(cluster=ClusterStep(n_clusters=2, run_id="k4")))
        app.action_refresh_workspace()
        await settle(pilot)
        offered = {value for _, value in chosen._options if value is not Select.NULL}
        assert offered == {"k3", "k2", "k4"} and chosen.value == "k3"
    with open_workspace(ui_copy, read_only=True) as ws:
        assert ws.con.execute(
            "SELECT run_id FROM summary_runs WHERE alias = 'again'"
        ).fetchall() == [("k3",)]


async def test_a_bad_form_value_is_reported_not_run(ui_copy):
    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        screen = app.screen
        screen.query_one("#job-step").value = "cluster"
        await pilot.pause()
        screen.query_one("#field-n_clusters", Input).value = "many"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "n_clusters" in static_text(screen, "#job-form-error")
        assert screen.query_one("#jobs-table", DataTable).row_count == 1


async def test_an_empty_workspace_opens_to_the_welcome_screen(tmp_path):
    app = make_app(tmp_path / "nothing-here")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_the_palette_jumps_to_a_query_id_and_to_a_cluster_by_title(ui_root):
    app = make_app(ui_root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"query 5")
        await wait_until(pilot, lambda: _palette_has(app, "inspect query 5"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InspectorScreen) and app.screen.query_id == 5
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.press(*"cluster 1")
        await wait_until(pilot, lambda: _palette_has(app, "cluster 1:"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ClustersScreen)
        table = app.screen.query_one("#cluster-queries", DataTable)
        await wait_until(pilot, lambda: table.row_count > 0)


def _palette_has(app, text: str) -> bool:
    from textual.command import CommandList

    lists = list(app.screen.query(CommandList))
    return bool(lists) and any(text in str(option.prompt) for option in lists[0]._options)


async def test_n_switches_the_clusters_between_key_phrase_and_taxonomy_names(ui_copy):
    from lmsys_tui.engine.naming.summarize import summarize_run
    from lmsys_tui.engine.naming.taxonomy import load_taxonomy
    from lmsys_tui.engine.specs import SummarizeStep
    from lmsys_tui.engine.workspace import open_workspace

    with open_workspace(ui_copy) as ws:  # every cluster takes its closest topic's name
        step = SummarizeStep(model="taxonomy", summary_run_id="summary-tax", min_similarity=-1)
        summarize_run(ws, step, "k3")
    topic_names = {topic.name for topic in load_taxonomy()}
    async with clusters_of_k3(ui_copy) as (app, pilot):
        screen = app.screen
        tree = screen.query_one(Tree)

        def leaf_titles():  # taxonomy titles: "Topic: key phrases"
            return [c.title.split(": ")[0] for c in screen.clusters]

        assert screen.summary_run_id == "summary-tax"  # the newest names first
        assert set(leaf_titles()) <= topic_names
        tree.focus()
        await pilot.press("n")
        await settle(pilot)
        assert screen.summary_run_id == "summary-offline"
        assert not set(leaf_titles()) & topic_names
        leaves = [str(n.label) for n in _walk(tree.root) if n.data is not None]
        assert any(title in label for title in leaf_titles() for label in leaves)
        await pilot.press("n")
        await settle(pilot)
        assert screen.summary_run_id == "summary-tax"


async def test_every_bound_key_on_every_screen_leaves_the_app_running(ui_copy):
    """A crash loses the user's whole session: press every key each screen binds, plus
    movement, marking and Enter, in order (Down then Space on Runs crashed once)."""
    app = make_app(ui_copy)
    movement = ["down", "space", "enter", "up", "tab", "escape"]
    shown = []
    notify = app.notify

    def recording(message, *args, **kwargs):  # a toast renders plain strings only: a rich
        shown.append(message)  # Text crashed it in a real terminal (headless draws none)
        return notify(message, *args, **kwargs)

    app.notify = recording
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for mode in ("runs", "clusters", "search", "jobs"):
            app.switch_mode(mode)
            await settle(pilot)
            screen = app.screen
            keys = [
                key
                for binding in type(screen).BINDINGS
                for key in binding.key.split(",")
                if key not in ("q", "escape")
            ]
            for key in ["down", "space", *keys, *movement]:
                await pilot.press(key)
                await settle(pilot)
                while app.screen is not screen and len(app.screen_stack) > 1:
                    await pilot.press("escape")  # close a modal or prompt it opened
                    await settle(pilot)
                    if app.screen is not screen:
                        app.pop_screen()
                        await settle(pilot)
                assert app.is_running, f"{mode}: the app stopped after {key!r}"
                assert all(isinstance(m, str) for m in shown), f"{mode} {key!r}: {shown[-1]!r}"
                app.switch_mode(mode)
                await settle(pilot)


@pytest.mark.parametrize("size", [(100, 30), (140, 30)])
async def test_a_clusters_query_text_keeps_room_beside_the_other_columns(ui_root, size):
    from lmsys_tui.widgets.query_table import QueryTable

    async with clusters_of_k3(ui_root, size=size) as (app, pilot):
        screen = app.screen
        screen.open_cluster(max(screen.clusters, key=lambda c: c.size).cluster_id)
        await settle(pilot)
        table = screen.query_one(QueryTable)
        columns = list(table.columns.values())
        names = [str(column.label) for column in columns]
        assert names[0] == "id" and names[-1] == "query"
        before_text = sum(column.get_render_width(table) for column in columns[:-1])
        assert table.size.width - before_text >= 40
        if size[0] >= 140:  # a wide pane keeps more than the id
            assert len(names) > 2


async def test_filter_escape_sizes_and_expansion_behave_as_people_expect(ui_root):
    from lmsys_tui.widgets.query_table import QueryTable

    async with clusters_of_k3(ui_root, size=(80, 24)) as (app, pilot):
        screen = app.screen
        tree = screen.query_one(Tree)
        for node in _walk(tree.root):
            label = str(node.label).strip()
            size = label.split()[0].replace(",", "")
            assert size.isdigit(), label  # the size comes first: a narrow pane never cuts it
        smallest = min(screen.clusters, key=lambda c: c.size)
        screen.open_cluster(max(screen.clusters, key=lambda c: c.size).cluster_id)
        await settle(pilot)
        table = screen.query_one(QueryTable)
        # At 80 columns the query text stays: only the id is kept beside it.
        assert [str(column.label) for column in table.columns.values()] == ["id", "query"]
        # Filter to another cluster: the detail follows it, the other's queries go.
        others = " ".join(c.title.lower() for c in screen.clusters if c is not smallest)
        word = next(w for w in smallest.title.lower().split(", ") if w not in others)
        await pilot.press("f")
        await pilot.press(*word)
        # The highlight is on the match at once (typed fast, it once stayed on a category).
        assert tree.cursor_node.data == smallest.cluster_id
        await wait_until(pilot, lambda: screen.detail_cluster == smallest.cluster_id)
        assert table.cluster_id is None and table.row_count == 0 and not table.display
        # Enter or down leaves the field for the tree, on the match; f goes back to it.
        field = screen.query_one("#cluster-filter", Input)
        for key in ("enter", "down"):
            await pilot.press(key)
            assert tree.has_focus and tree.cursor_node.data == smallest.cluster_id
            await pilot.press("f")
            assert field.has_focus and field.value == word
        # Escape clears the filter, then leaves the field; the screen stays.
        await pilot.press("escape")
        await settle(pilot)
        assert field.value == "" and app.screen is screen
        await pilot.press("escape")
        await settle(pilot)
        assert not field.has_focus and app.screen is screen
        # A refresh keeps the expanded categories.
        category = next(n for n in _walk(tree.root) if n.data is None)
        category.expand()
        screen.rebuild_tree()
        again = next(n for n in _walk(tree.root) if str(n.label) == str(category.label))
        assert again.is_expanded


async def test_the_query_list_never_lists_another_cluster_than_the_detail(ui_root):
    from lmsys_tui.widgets.query_table import QueryTable

    async with clusters_of_k3(ui_root, size=(80, 24)) as (app, pilot):
        screen = app.screen
        tree = screen.query_one(Tree)
        table = screen.query_one(QueryTable)
        detail = screen.query_one("#cluster-detail-scroll")
        leaves = [n for n in _walk(tree.root) if n.data is not None]
        first, second = leaves[0], leaves[1]
        for leaf in (first, second):
            leaf.parent.expand()
        await settle(pilot)
        tree.focus()
        tree.move_cursor(first)
        await settle(pilot)
        assert not table.display  # nothing listed: the detail has the pane
        await pilot.press("enter")
        await settle(pilot)
        assert table.display and table.cluster_id == first.data and table.row_count
        assert table.border_title.startswith(f"cluster {first.data}: ")
        assert detail.region.height <= screen.query_one("#detail-pane").region.height // 2
        await pilot.press("escape")  # back to the tree, the list still open
        await settle(pilot)
        assert tree.has_focus and table.cluster_id == first.data
        tree.move_cursor(second)
        await wait_until(pilot, lambda: screen.detail_cluster == second.data)
        assert table.cluster_id is None and table.row_count == 0 and not table.display
        # A category's detail lists all its clusters, even at 80 x 24.
        category = next(n for n in _walk(tree.root) if n.data is None)
        tree.move_cursor(category)
        await settle(pilot)
        node = screen.categories[category.id]
        held = [n for n in screen.nodes if n.parent_id == node.node_id]
        shown = static_text(screen, "#cluster-detail").split("largest first")[1]
        assert len(shown.strip().splitlines()) == len(held)
        assert detail.max_scroll_y == 0  # none of it cut off


async def test_a_detail_longer_than_its_pane_scrolls_from_the_keyboard(ui_root):
    async with clusters_of_k3(ui_root, size=(80, 24)) as (app, pilot):
        screen = app.screen
        biggest = max(screen.clusters, key=lambda c: c.size)
        screen.open_cluster(biggest.cluster_id)  # the query list takes half the pane
        await settle(pilot)
        detail = screen.query_one("#cluster-detail-scroll")
        assert detail.max_scroll_y > 0  # the models and representatives are cut
        screen.query_one(Tree).focus()
        await pilot.press("tab")
        assert detail.has_focus
        await pilot.press("j", "j")
        await settle(pilot)
        assert detail.scroll_y == 2
        await pilot.press("G")
        await settle(pilot)
        assert detail.scroll_y == detail.max_scroll_y
        await pilot.press("escape")
        assert screen.query_one(Tree).has_focus and app.screen is screen


async def test_a_highlighted_category_shows_what_it_holds(ui_root):
    async with clusters_of_k3(ui_root) as (app, pilot):
        tree = app.screen.query_one(Tree)
        category = next(n for n in _walk(tree.root) if n.data is None)
        tree.focus()
        tree.move_cursor(category)
        await settle(pilot)
        detail = static_text(app.screen, "#cluster-detail")
        assert "category · level 1" in detail and "clusters" in detail
        # Its clusters are listed with their sizes, largest first.
        node = app.screen.categories[category.id]
        leaves = [n for n in app.screen.nodes if n.parent_id == node.node_id]
        listed = detail.split("clusters, largest first")[1].strip().splitlines()
        assert len(listed) == len(leaves) >= 1
        sizes = [int(line.split()[0].replace(",", "")) for line in listed]
        assert sizes == sorted((leaf.size for leaf in leaves), reverse=True)
        assert all(any(leaf.title in line for line in listed) for leaf in leaves)


async def test_the_arrows_open_a_category_step_in_and_back_out(ui_root):
    async with clusters_of_k3(ui_root) as (app, pilot):
        tree = app.screen.query_one(Tree)
        category = next(n for n in _walk(tree.root) if n.data is None)
        category.collapse()
        tree.focus()
        tree.move_cursor(category)
        await settle(pilot)
        await pilot.press("right")
        assert category.is_expanded and tree.cursor_node is category
        await pilot.press("right")
        assert tree.cursor_node is category.children[0]
        await pilot.press("left")  # a cluster has nothing to close: out to its category
        assert tree.cursor_node is category and category.is_expanded
        await pilot.press("h")
        assert not category.is_expanded
        await pilot.press("left")  # a top category: nowhere further out
        assert tree.cursor_node is category


async def test_a_category_with_one_child_shows_the_child_in_its_place(ui_copy):
    with open_workspace(ui_copy) as ws:  # each category alone under a broader one
        ws.con.execute(
            "INSERT INTO hierarchy_nodes SELECT hierarchy_run_id, 'L2-' || node_id, 2, NULL, "
            "NULL, 'Broad ' || title, description, size FROM hierarchy_nodes WHERE level = 1"
        )
        ws.con.execute("UPDATE hierarchy_nodes SET parent_id = 'L2-' || node_id WHERE level = 1")
        lone = ws.con.execute(
            "SELECT cluster_id FROM hierarchy_nodes n WHERE level = 0 AND (SELECT count(*) "
            "FROM hierarchy_nodes m WHERE m.parent_id = n.parent_id) = 1"
        ).fetchall()
    async with clusters_of_k3(ui_copy) as (app, pilot):
        tops = list(app.screen.query_one(Tree).root.children)
        categories = [node for node in tops if node.data is None]
        # The category of two clusters, its clusters right under it: one click, not two.
        assert len(categories) == 1 and "Broad " not in str(categories[0].label)
        assert len(categories[0].children) == 2
        assert all(c.data is not None for c in categories[0].children)
        # The cluster alone in its category (and that one alone in a broader one) is a row
        # of its own at the top, not two categories to open first.
        assert lone and [node.data for node in tops if node.data is not None] == [lone[0][0]]
        shown = sorted(n.data for n in _walk(app.screen.query_one(Tree).root) if n.data is not None)
        assert shown == sorted(c.cluster_id for c in app.screen.clusters)


async def test_j_k_g_and_shift_g_move_in_lists_and_stay_text_in_inputs(ui_root):
    async with clusters_of_k3(ui_root) as (app, pilot):
        tree = app.screen.query_one(Tree)
        tree.root.expand_all()
        tree.focus()
        await settle(pilot)
        await pilot.press("G")
        last = tree.cursor_line
        await pilot.press("k")
        assert tree.cursor_line == last - 1
        await pilot.press("g")
        assert tree.cursor_line == 0
        await pilot.press("j")
        assert tree.cursor_line == 1
        await pilot.press("f", "j", "k")  # typed into the filter, not moving anything
        await settle(pilot)
        assert app.screen.query_one("#cluster-filter", Input).value == "jk"


async def export_from_clusters(app, pilot, path, answer: str | None = None) -> None:
    """Press e on Clusters and type the path, Enter, then the answer (queries per
    cluster) and Enter, as one burst of keys (the file name starts selected, and so does
    the answer once Enter reaches it: typing replaces them)."""
    app.screen.query_one(Tree).focus()
    await type_at_once(pilot, f"e{path}\n" + ("" if answer is None else f"{answer}\n"))


def export_error(app) -> str:
    return static_text(app.screen, "#export-error")


async def test_export_the_run_and_copy_a_query_from_the_tui(ui_root, tmp_path):
    import pyarrow.parquet as pq

    target = tmp_path / "k3.parquet"
    async with clusters_of_k3(ui_root) as (app, pilot):
        await export_from_clusters(app, pilot, target)
        sample = app.screen.query_one("#export-sample", Input)
        assert sample.has_focus and sample.value == "all"
        await pilot.press("enter")
        await wait_until(pilot, target.exists)
        query_id = query_id_of(ui_root, "sql-0")
        app.inspect_query(query_id)
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        copied = app.clipboard
    assert pq.read_table(target).num_rows == 35
    assert copied == "How do I write a SQL query that joins two tables on customer_id?"


async def test_export_a_sample_of_each_cluster_from_the_tui(ui_root, tmp_path):
    import csv

    target = tmp_path / "sample.csv"
    async with clusters_of_k3(ui_root) as (app, pilot):
        await export_from_clusters(app, pilot, target, "two")
        # Refused in the dialog, which stays open with the answer there to correct.
        assert "answer all, a number of queries per cluster" in export_error(app)
        sample = app.screen.query_one("#export-sample", Input)
        assert sample.has_focus and sample.value == "two"
        for answer in ("2 farthest", "0"):
            await pilot.press("ctrl+a", "ctrl+k", *answer, "enter")
            assert "answer all" in export_error(app) and not target.exists()
        await pilot.press("ctrl+a", "ctrl+k", *"2 nearest", "enter")
        await wait_until(pilot, target.exists)
        await settle(pilot)
        messages = [str(n.message) for n in app._notifications]
    with target.open() as file:
        rows = list(csv.DictReader(file))
    per_cluster = {}
    for row in rows:
        per_cluster[row["cluster_id"]] = per_cluster.get(row["cluster_id"], 0) + 1
    assert sorted(per_cluster.values()) == [2, 2, 2]
    assert any("Exported 6 rows (up to 2 per cluster, nearest)" in m for m in messages)
    # A file that is there, or a format export does not know, is refused at the name.
    async with clusters_of_k3(ui_root) as (app, pilot):
        await export_from_clusters(app, pilot, target)
        assert f"{target} exists: choose another name" in export_error(app)
        assert app.screen.query_one("#export-path", Input).has_focus
        await pilot.press(*".xlsx", "enter")
        assert "sample.csv.xlsx: end the name in .csv, .json" in export_error(app)
        await pilot.press("ctrl+a", "ctrl+k", *f"{tmp_path}/nowhere/k3.csv", "enter")
        assert f"{tmp_path}/nowhere: no such folder" in export_error(app)
        await pilot.press("escape")
        await settle(pilot)
        assert not app.screen.query("#export-path")
        assert not (tmp_path / "sample.csv.xlsx").exists()


async def test_the_status_line_names_the_run_and_a_running_job(ui_root):
    async with clusters_of_k3(ui_root) as (app, pilot):
        line = str(app.screen.query_one("StatusLine").render())
        assert "run k3" in line and "no job running" in line
        app.job_status = "job: embed 10/30"
        await pilot.pause()
        assert "job: embed 10/30" in str(app.screen.query_one("StatusLine").render())


async def test_a_column_header_sorts_its_table_and_again_reverses(ui_root):
    async with clusters_of_k3(ui_root) as (app, pilot):
        screen = app.screen
        screen.open_cluster(screen.clusters[0].cluster_id)
        await settle(pilot)
        table = screen.query_one("#cluster-queries", DataTable)
        column = next(k for k, c in table.columns.items() if str(c.label) == "id")

        def ids():
            return [int(str(table.get_row_at(i)[0])) for i in range(table.row_count)]

        table.post_message(DataTable.HeaderSelected(table, column, 0, table.columns[column].label))
        await settle(pilot)
        assert ids() == sorted(ids())
        table.post_message(DataTable.HeaderSelected(table, column, 0, table.columns[column].label))
        await settle(pilot)
        assert ids() == sorted(ids(), reverse=True)


async def test_o_pipes_the_prompt_to_the_pager_and_falls_back_to_the_text_pane(
    ui_root, tmp_path, monkeypatch
):
    import contextlib

    written = tmp_path / "paged.txt"
    monkeypatch.setenv("PAGER", f"sh -c 'cat > {written}'")
    async with clusters_of_k3(ui_root) as (app, pilot):
        monkeypatch.setattr(app, "suspend", contextlib.nullcontext)  # headless cannot suspend
        app.inspect_query(query_id_of(ui_root, "sql-0"))
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        assert written.read_text() == (
            "How do I write a SQL query that joins two tables on customer_id?"
        )
        monkeypatch.setenv("PAGER", "no-such-pager-here")
        await pilot.press("o")
        await settle(pilot)
        assert app.focused is app.screen.query_one("#query-text-pane")


async def test_digits_typed_into_a_field_stay_there_and_focus_selects_nothing(ui_root):
    from lmsys_tui.screens.search import SearchScreen

    app = make_app(ui_root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        box = app.screen.query_one("#search-input", Input)
        box.focus()
        await pilot.press(*"top 2", "1", "4")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen) and box.value == "top 214"
        await pilot.press("tab")  # away and back with the keyboard
        await pilot.press("shift+tab")
        await pilot.pause()
        assert app.focused is box and box.selection.is_empty, box.selection


@pytest.mark.parametrize("names", ["offline", "taxonomy"])
async def test_z_zooms_into_a_cluster_and_opens_the_new_run(ui_copy, names):
    from lmsys_tui.engine.naming.summarize import summarize_run
    from lmsys_tui.engine.specs import SummarizeStep

    if names == "taxonomy":  # the newest names, so the ones shown: the zoom keeps them
        with open_workspace(ui_copy) as ws:
            summarize_run(ws, SummarizeStep(model="taxonomy"), "k3")
    async with clusters_of_k3(ui_copy) as (app, pilot):
        screen = app.screen
        biggest = max(screen.clusters, key=lambda c: c.size)
        tree = screen.query_one(Tree)
        tree.root.expand_all()
        await pilot.pause()
        leaf = next(n for n in _walk(tree.root) if n.data == biggest.cluster_id)
        tree.move_cursor(leaf)
        tree.focus()
        await pilot.press("z")
        await wait_until(pilot, lambda: app.run_id not in (None, "k3"), timeout=30)
        await settle(pilot)
        assert app.current_mode == "clusters"
        zoomed = app.screen.clusters
        assert sum(c.size for c in zoomed) == biggest.size and len(zoomed) >= 2
    with open_workspace(ui_copy, read_only=True) as ws:
        (description,) = ws.con.execute(
            "SELECT description FROM clustering_runs WHERE run_id = ?", [app.run_id]
        ).fetchall()[0]
        namers = ws.con.execute(
            "SELECT model FROM summary_runs WHERE run_id = ?", [app.run_id]
        ).fetchall()
    assert description == f"clusters {biggest.cluster_id} of k3"
    assert namers == [(names,)]  # free names as the parent's; an LLM's never unbidden


async def test_an_llm_step_shows_its_plan_before_it_starts(ui_copy):
    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        screen = app.screen
        screen.query_one("#job-step").value = "summarize"
        await pilot.pause()
        await settle(pilot)
        screen.query_one("#field-model", Input).value = "openai/gpt-4o-mini"
        await pilot.press("ctrl+s")
        await settle(pilot)
        stage = static_text(screen, "#job-stage")
        assert "plan: 3 clusters, 3 requests" in stage and "$" in stage
        assert "Press ctrl+s again to start" in stage
        assert screen.query_one("#jobs-table", DataTable).row_count == 1  # nothing started


async def open_job_form(app, pilot, step: str):
    """Jobs (4), `step` chosen in the form: the Jobs screen."""
    await settle(pilot)
    await pilot.press("4")
    screen = app.screen
    screen.query_one("#job-step").value = step
    await pilot.pause()
    return screen


async def start_job(app, pilot, step: str):
    """The form of `step` with its defaults, ctrl+s: the Jobs screen."""
    screen = await open_job_form(app, pilot, step)
    await pilot.press("ctrl+s")
    return screen


async def test_a_job_that_fills_the_disk_says_so_in_one_line(ui_copy, monkeypatch):
    """The same line the batch runner prints, not an exception's repr."""
    import errno

    from lmsys_tui.engine import jobs

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(ui_copy / "tmp"))

    monkeypatch.setattr(jobs, "cluster_space", full_disk)
    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        screen = await start_job(app, pilot, "cluster")
        await settle(pilot)
        stage = static_text(screen, "#job-stage")
        assert stage.startswith(f"Job failed: the disk is full ({ui_copy / 'tmp'})")
        assert "OSError" not in stage
        # The past job's whole error under the table, beside its step.
        assert "cluster: the disk is full (" in static_text(screen, "#job-detail")


@pytest.fixture
def slow_clustering(monkeypatch):
    """A cluster step that runs ~60 s unless cancelled, at a progress report as the real
    steps are (long enough for a loaded machine to reach the cancel)."""
    import time

    from lmsys_tui.engine import jobs
    from lmsys_tui.engine.progress import Progress

    def slow(ws, step, space_id, progress):
        for done in range(6000):
            progress(Progress("cluster", done, 6000))
            time.sleep(0.01)
        raise AssertionError("never cancelled")

    monkeypatch.setattr(jobs, "cluster_space", slow)


async def start_slow_job(app, pilot):
    """The Jobs screen, once its (slow) cluster job is running."""
    screen = await start_job(app, pilot, "cluster")
    while "cluster" not in static_text(screen, "#job-stage"):  # running: no settle()
        await pilot.pause(0.05)
    return screen


def last_job_status(root) -> str:
    with open_workspace(root, read_only=True) as ws:
        return ws.con.execute("SELECT status FROM jobs ORDER BY started_at").fetchall()[-1][0]


async def test_quitting_during_a_job_asks_first_then_cancels_it(ui_copy, slow_clustering, capsys):
    """q while a job runs: a question, not a blank terminal while the job's batch ends;
    n keeps both, y cancels the job (kept as cancelled) and says so once the app is gone."""
    from lmsys_tui.app import QUIT_DURING_JOB

    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        screen = await start_slow_job(app, pilot)
        await pilot.press("q")
        await pilot.pause()
        asked = " ".join(shown_text(static) for static in app.screen.query("#prompt Static"))
        assert "A job is running. Quit and cancel it?" in asked
        await pilot.press("q")  # asked once, however often q is pressed
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and app.screen is screen
        assert [w for w in app.workers if w.group == "jobs" and w.is_running]
        await pilot.press("q", "y")
    assert QUIT_DURING_JOB in " ".join(capsys.readouterr().err.split())  # printed on exit
    assert last_job_status(ui_copy) == "cancelled"


async def test_ctrl_x_cancels_a_running_job_from_a_form_field_and_cuts_text_otherwise(
    ui_copy, slow_clustering
):
    """After ctrl+s the focus is still in the form: ctrl+x must cancel from there, not
    cut the field's text; with no job running it is the field's cut again."""
    from textual.widgets import Input

    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_job_form(app, pilot, "cluster")
        field = screen.query(Input).first()
        field.focus()
        field.value = "12"
        await pilot.press("ctrl+s")
        while "cluster" not in static_text(screen, "#job-stage"):  # running: no settle()
            await pilot.pause(0.05)
        assert app.focused is field
        await pilot.press("ctrl+x")
        await settle(pilot)
        assert static_text(screen, "#job-stage") == "Job cancelled; what it committed is kept."
        assert field.value == "12"
        field.select_all()
        await pilot.press("ctrl+x")
        assert field.value == ""
    assert last_job_status(ui_copy) == "cancelled"


async def test_ctrl_x_cancels_the_running_job_from_another_screen(ui_copy, slow_clustering):
    """A job started on Jobs runs on while the user browses: ctrl+x cancels it from there,
    and the footer offers it only while a job runs."""

    def offered() -> bool:
        return any(b.binding.action == "cancel_job" for b in app.active_bindings.values())

    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        jobs = await start_slow_job(app, pilot)
        await pilot.press("1")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and offered()
        await pilot.press("ctrl+x")
        await settle(pilot)
        assert not app.job_running() and not offered()
        assert static_text(jobs, "#job-stage") == "Job cancelled; what it committed is kept."
    assert last_job_status(ui_copy) == "cancelled"


async def test_the_query_encoder_loads_in_the_background_once_the_first_screen_shows(
    embedded_workspace,
):
    """Search answers its first query sooner: the ONNX encoder is ready before 3 is
    pressed, and no index was opened (building one can take seconds)."""
    from lmsys_tui.engine.embedding import embed
    from lmsys_tui.engine.embedding.query_encoder import OnnxQueryEncoder

    root, _ = embedded_workspace
    key = ("sentence-transformers", "all-MiniLM-L6-v2")
    embed._SHARED_EMBEDDERS.pop(key, None)
    try:
        app = make_app(root)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, RunsScreen) and app.search_prepared
            assert isinstance(embed._SHARED_EMBEDDERS.get(key), OnnxQueryEncoder)
            searcher = app.searchers[app.run_id]
            assert searcher._index is None and searcher._keywords is None
    finally:
        embed._SHARED_EMBEDDERS.pop(key, None)
