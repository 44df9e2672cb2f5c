"""Smaller behaviours: run comparison, flat numbered lists, paging, the welcome key."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static, Tree
from textual.widgets._footer import FooterKey

from lmsys_tui.app import make_app
from lmsys_tui.engine.jobs import run_job
from lmsys_tui.engine.specs import ClusterStep, JobSpec
from lmsys_tui.engine.workspace import open_workspace
from lmsys_tui.screens.clusters import ClustersScreen
from lmsys_tui.screens.compare import CompareScreen
from lmsys_tui.widgets import query_table
from lmsys_tui.widgets.footer import KeysFooter
from tests.ui.test_journeys import (
    SIZE,
    clusters_of_k3,
    settle,
    shown_text,
    static_text,
    wait_until,
)


async def test_two_runs_compare_side_by_side_and_a_run_without_summaries_is_numbered(ui_copy):
    with open_workspace(ui_copy) as ws:
        run_job(ws, JobSpec(cluster=ClusterStep(n_clusters=2, run_id="k2")))
    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 2
        # The highlighted run, described in full below the table.
        shown = static_text(app.screen, "#run-detail")
        assert shown.startswith("k2\nkmeans · 2 clusters of 35 queries")
        assert "names: none yet" in shown and "hierarchy" not in shown
        await pilot.press("down")
        shown = static_text(app.screen, "#run-detail")
        assert shown.startswith("k3\n") and "names: offline" in shown
        assert "hierarchy: 3 -> 2 nodes" in shown and "three topics" in shown
        await pilot.press("up", "space", "down", "c")
        await settle(pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        title = static_text(compare, "#compare-title")
        assert "35 shared queries" in title and "ARI" in title
        rows = compare.query_one(DataTable)
        kinds = [str(rows.get_row_at(i)[0]) for i in range(rows.row_count)]
        assert kinds.count("match") == 2 and "split" in kinds  # A = k2 (marked), B = k3
        # The highlighted row in words below the table, each title whole.
        first_b = next(m for m in compare.result.matches).b
        explained = static_text(compare, "#compare-detail")
        assert explained.startswith("match\nA ") and f"B {first_b.cluster_id} (" in explained
        assert first_b.title in explained and "jaccard" in explained
        await pilot.press(*["down"] * kinds.index("split"))
        explained = static_text(compare, "#compare-detail")
        assert explained.startswith("split\nA ") and explained.count("\n  B ") >= 2
        await pilot.press("escape")
        shown = static_text(app.screen, "#run-detail")
        assert "k2" in shown and "k3" in shown and "silhouette" in shown
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("b")  # the first match's cluster in run B
        await settle(pilot)
        assert isinstance(app.screen, ClustersScreen) and app.run_id == "k3"
        app.open_run("k2")
        await settle(pilot)
        tree = app.screen.query_one(Tree)
        labels = sorted(str(node.label).split(maxsplit=1)[1] for node in tree.root.children)
        assert labels == ["cluster 0", "cluster 1"]  # no summaries, no hierarchy: flat
        title = static_text(app.screen, "#run-title")
        assert "no names yet (Jobs: a summarize step)" in title and "no hierarchy step" in title


async def test_the_query_table_loads_more_rows_as_the_cursor_moves_down(ui_root, monkeypatch):
    monkeypatch.setattr(query_table, "PAGE_ROWS", 4)
    app = make_app(ui_root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_run("k3")
        await settle(pilot)
        screen = app.screen
        biggest = max(screen.clusters, key=lambda c: c.size)
        screen.open_cluster(biggest.cluster_id)
        await settle(pilot)
        table = screen.query_one("#cluster-queries", DataTable)
        assert table.row_count == 4
        assert table.border_title == (
            f"cluster {biggest.cluster_id}: 4 of {biggest.size} queries · scroll or G for more"
        )
        for _ in range(biggest.size):
            await pilot.press("down")
        await settle(pilot)
        assert table.row_count == biggest.size
        assert table.border_title.endswith(f": {biggest.size} of {biggest.size} queries")  # all


async def test_the_welcome_key_starts_the_quickstart_job(tmp_path, monkeypatch):
    started = []

    def fake_run_job(ws, spec, progress):
        started.append(spec)
        made = {"run_id": "made-by-the-quickstart", "n_clusters": 50, "n_queries": 9434}
        return {"cluster": {**made, "reused": True, "metrics": {}}}

    monkeypatch.setattr("lmsys_tui.engine.jobs.run_job", fake_run_job)
    app = make_app(tmp_path / "new-workspace")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: bool(started))
        assert started[0].load.source == "sharegpt-sample"
        assert started[0].cluster.n_clusters == 50 and started[0].hierarchy.levels == 3
        # Done, it opens the run it made.
        await wait_until(pilot, lambda: isinstance(app.screen, ClustersScreen))
        assert app.run_id == "made-by-the-quickstart"


def test_the_quickstart_file_and_the_welcome_job_agree():
    from lmsys_tui.engine.jobs import parse_job_file
    from lmsys_tui.engine.specs import quickstart_spec

    assert parse_job_file("examples/quickstart.toml") == quickstart_spec()


async def test_rename_and_tag_from_the_clusters_screen_are_audited(ui_copy):
    from lmsys_tui.engine.curation.audit import list_edits

    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_run("k3")
        await settle(pilot)
        tree = app.screen.query_one(Tree)
        tree.root.expand_all()
        await pilot.pause()
        leaf = next(n for n in _walk(tree.root) if n.data is not None)
        tree.move_cursor(leaf)
        tree.focus()
        await pilot.press("r")
        await pilot.pause()
        prompt = app.screen.query_one("#prompt-input")
        prompt.value = "Renamed [b]here[/b]"
        await pilot.press("enter")
        await pilot.pause()
        assert _tree_has(app, "Renamed [b]here[/b]")  # shown at once, saved in a worker
        await settle(pilot)
        await wait_until(pilot, lambda: _tree_has(app, "Renamed [b]here[/b]"))
        tree = app.screen.query_one(Tree)
        assert tree.cursor_node is not None and tree.cursor_node.data == leaf.data  # kept
        tree.root.expand_all()
        await pilot.pause()
        leaf = next(n for n in _walk(tree.root) if n.data == leaf.data)
        tree.move_cursor(leaf)
        tree.focus()
        await pilot.press("t")
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = "pii has emails"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "[pii]" in static_text(app.screen, "#cluster-detail"))
        app.screen.query_one(Tree).focus()
        await pilot.press("a")
        await settle(pilot)
        audit = app.screen.query_one("#audit-table", DataTable)
        assert [str(audit.get_row_at(i)[2]) for i in range(audit.row_count)] == ["rename", "tag"]
        await pilot.press("escape")
    with open_workspace(ui_copy, read_only=True) as ws:
        edits = list_edits(ws.con, "k3")
    assert [e.action for e in edits] == ["rename", "tag"]
    assert edits[0].new["title"] == "Renamed [b]here[/b]" and edits[1].new["note"] == "has emails"


def _walk(node):
    for child in node.children:
        yield child
        yield from _walk(child)


def _tree_has(app, text: str) -> bool:
    trees = list(app.screen.query(Tree))
    return bool(trees) and any(text in str(n.label) for n in _walk(trees[0].root))


async def test_the_cluster_detail_says_what_stands_out(ui_copy):
    with open_workspace(ui_copy) as ws:
        (cluster_id,) = ws.con.execute(
            "SELECT cluster_id FROM clusters WHERE run_id = 'k3' ORDER BY size DESC LIMIT 1"
        ).fetchall()[0]
        ws.con.execute("UPDATE queries SET model = 'vicuna-13b'")
        ws.con.execute(
            "UPDATE queries SET model = 'gpt-4' WHERE query_id IN (SELECT query_id FROM "
            "query_clusters WHERE run_id = 'k3' AND cluster_id = ?)",
            [cluster_id],
        )
    async with clusters_of_k3(ui_copy) as (app, pilot):
        app.screen.open_cluster(cluster_id)
        await settle(pilot)
        detail = static_text(app.screen, "#cluster-detail")
        assert "stands out against the run" in detail and "model gpt-4" in detail


async def test_p_shows_sizes_a_map_with_the_cluster_marked_and_the_language_mix(ui_root):
    from textual.geometry import Region

    from lmsys_tui.screens.pictures import PicturesScreen

    async with clusters_of_k3(ui_root, size=(140, 45)) as (app, pilot):
        clusters = app.screen
        biggest = max(clusters.clusters, key=lambda c: c.size)
        clusters.open_cluster(biggest.cluster_id)
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PicturesScreen)

        def drawn(selector: str) -> str:
            plot = screen.query_one(selector)
            whole = Region(0, 0, plot.size.width, plot.size.height)
            return "\n".join(strip.text for strip in plot.render_lines(whole))

        sizes = drawn("#sizes-plot")
        assert "cluster sizes" in sizes
        # Sizes are counts: whole ticks from 0 (13 queries at most: 0, 5, 10).
        axis = [line.split("┤")[0].strip() for line in sizes.splitlines() if "┤" in line]
        assert sorted(axis, key=int) == ["0", "5", "10"]
        assert f"X = {biggest.title[:20]}" in drawn("#map-plot")
        assert {"English", "Arabic"} <= set(screen.mix.languages)
        assert sum(screen.mix.counts.sum(axis=1)) == 35
        await pilot.press("escape")
        assert app.screen is clusters


async def test_a_moved_query_leaves_the_open_list_and_the_cursor_stays(ui_copy, monkeypatch):
    from lmsys_tui.widgets.query_table import QueryTable

    monkeypatch.setattr(query_table, "PAGE_ROWS", 4)  # the cursor on a later page
    async with clusters_of_k3(ui_copy) as (app, pilot):
        screen = app.screen
        biggest, other = sorted(screen.clusters, key=lambda c: -c.size)[:2]
        screen.open_cluster(biggest.cluster_id)
        await settle(pilot)
        table = screen.query_one(QueryTable)
        for _ in range(6):
            await pilot.press("down")
            await settle(pilot)
        moved = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        await pilot.press("v")
        await pilot.pause()
        app.screen.query_one("#prompt-input").value = str(other.cluster_id)
        await pilot.press("enter")
        await wait_until(pilot, lambda: moved not in [key.value for key in table.rows])
        await settle(pilot)
        assert table.cluster_id == biggest.cluster_id and table.cursor_row == 6
        assert table.total == biggest.size - 1


async def test_a_query_moves_to_a_cluster_named_by_the_start_of_its_title(ui_copy):
    from lmsys_tui.engine.browse import query_detail
    from lmsys_tui.widgets.query_table import QueryTable

    async with clusters_of_k3(ui_copy) as (app, pilot):
        screen = app.screen
        biggest, other, _ = sorted(screen.clusters, key=lambda c: -c.size)
        screen.open_cluster(biggest.cluster_id)
        await settle(pilot)
        table = screen.query_one(QueryTable)
        moved = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        typed = _start_only_it_has(other, screen.clusters)
        await pilot.press("v")
        await pilot.pause()
        prompt = app.screen.query_one("#prompt-input")
        assert "title" in prompt.placeholder  # the tree shows titles, not ids
        await pilot.press(*typed, "right")  # right completes it
        await settle(pilot)
        assert prompt.value == f"{other.title} (cluster {other.cluster_id})"
        await pilot.press("enter")
        await wait_until(pilot, lambda: moved not in [key.value for key in table.rows])
        (membership,) = query_detail(app.cursor(), int(moved)).clusters
        assert membership.cluster_id == other.cluster_id
        # Words no title starts with: a one-line error, nothing moves.
        await pilot.press("v")
        await pilot.pause()
        await pilot.press(*"zzz", "enter")
        await settle(pilot)
        assert app.screen is screen and table.total == biggest.size - 1


def _start_only_it_has(cluster, clusters) -> str:
    """The shortest start of a cluster's title (lowercased) no other title has."""
    titles = [c.title.lower() for c in clusters if c is not cluster]
    title = cluster.title.lower()
    starts = (title[:n] for n in range(1, len(title) + 1))
    return next(start for start in starts if not any(t.startswith(start) for t in titles))


async def test_a_cluster_merges_into_the_highlighted_one_named_by_its_title(ui_copy):
    async with clusters_of_k3(ui_copy) as (app, pilot):
        screen = app.screen
        into, other, _ = sorted(screen.clusters, key=lambda c: c.cluster_id)
        screen.open_cluster(into.cluster_id)
        await settle(pilot)
        await pilot.press("m")
        await pilot.pause()
        await pilot.press(*_start_only_it_has(other, screen.clusters), "enter")
        await wait_until(pilot, lambda: len(screen.clusters) == 2)
        merged = next(c for c in screen.clusters if c.cluster_id == into.cluster_id)
        assert merged.size == into.size + other.size
        assert other.cluster_id not in [c.cluster_id for c in screen.clusters]


async def test_d_deletes_the_highlighted_run_only_after_y(ui_copy):
    from lmsys_tui.screens.prompt import ConfirmScreen
    from lmsys_tui.screens.runs import RunsScreen

    with open_workspace(ui_copy) as ws:
        run_job(ws, JobSpec(cluster=ClusterStep(n_clusters=2, run_id="k2")))
    async with clusters_of_k3(ui_copy) as (app, pilot):
        await pilot.press("1")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        await pilot.press("down")  # k3, the run Clusters has open
        assert table.get_row_at(table.cursor_row)[0].plain == "k3"
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        shown = " ".join(shown_text(part) for part in app.screen.query(Static))
        assert "Delete run k3?" in shown
        assert "3 clusters of 35 queries, 1 summary run, 1 hierarchy." in shown
        await pilot.press("enter", "space")  # neither says yes
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen) and table.row_count == 2
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen.query_one(DataTable).row_count == 1)
        assert app.screen.query_one(DataTable).get_row_at(0)[0].plain == "k2"
        assert app.run_id is None  # Clusters shows the newest run again, not a deleted one
        await pilot.press("2")
        await settle(pilot)
        assert app.screen.run_id == "k2"
        # The last run goes too: Clusters keeps nothing of it (its detail stayed, once).
        await pilot.press("1", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen.query_one(DataTable).row_count == 0)
        await pilot.press("2")
        await settle(pilot)
        assert static_text(app.screen, "#run-title").startswith("No clustering run yet")
        assert static_text(app.screen, "#cluster-detail") == ""
        assert not app.screen.query_one(Tree).root.children
    with open_workspace(ui_copy, read_only=True) as ws:
        assert ws.con.execute("SELECT count(*) FROM clustering_runs").fetchall() == [(0,)]


async def test_shift_d_deletes_the_names_shown_only_after_y(ui_copy):
    from lmsys_tui.engine.naming.summarize import summarize_run
    from lmsys_tui.engine.specs import SummarizeStep
    from lmsys_tui.screens.clusters import ClustersScreen
    from lmsys_tui.screens.prompt import ConfirmScreen

    with open_workspace(ui_copy) as ws:
        summarize_run(ws, SummarizeStep(alias="second", summary_run_id="summary-second"), "k3")
    async with clusters_of_k3(ui_copy) as (app, pilot):
        screen = app.screen
        await pilot.press("n")  # from the newest names to the offline ones
        await wait_until(pilot, lambda: screen.summary_run_id == "summary-offline")
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        shown = " ".join(shown_text(part) for part in app.screen.query(Static))
        assert "Delete the names summary-offline?" in shown
        assert "names of 3 clusters (offline) of run k3, 1 hierarchy." in shown
        assert "The run, its other names and its audit trail stay." in shown
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, ClustersScreen) and screen.summary_run_id == "summary-offline"
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.summary_run_id == "summary-second")
        await settle(pilot)
        assert "flat list" in static_text(screen, "#run-title")  # its hierarchy went too
        # The last names go too: clusters keep their numbers.
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        shown = " ".join(shown_text(part) for part in app.screen.query(Static))
        assert "The run and its audit trail stay; its clusters show their numbers." in shown
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.summary_run_id is None)
        await settle(pilot)
        assert sorted(c.title for c in screen.clusters)[:3] == [
            "cluster 0",
            "cluster 1",
            "cluster 2",
        ]
        await pilot.press("D")
        await settle(pilot)
        assert isinstance(app.screen, ClustersScreen)
    with open_workspace(ui_copy, read_only=True) as ws:
        assert ws.count("summary_runs") == 0 and ws.count("clusters") == 3


def test_a_cluster_is_named_by_its_id_its_title_or_a_start_only_it_has():
    from lmsys_tui.engine.browse import ClusterInfo
    from lmsys_tui.screens.clusters import cluster_named

    clusters = [
        ClusterInfo(4, 10, "Python code, django", "", 10),
        ClusterInfo(7, 8, "Python script, pandas", "", 8),
        ClusterInfo(-1, 3, "noise", "", 3),
        ClusterInfo(9, 2, "Evil\x1b[31m red\nline", "", 2),  # an edited or LLM title
    ]
    assert cluster_named("7", clusters) == 7 and cluster_named("-1", clusters) == -1
    assert cluster_named("python s", clusters) == 7
    assert cluster_named("Python code, django (cluster 4)", clusters) == 4
    # Suggested and matched as the tree shows it: no escape or line break reaches the field.
    assert cluster_named("Evil [31m red line (cluster 9)", clusters) == 9
    assert cluster_named("evil [31m red l", clusters) == 9
    with pytest.raises(ValueError, match="2 clusters' titles start with 'pyth': type more"):
        cluster_named("pyth", clusters)
    with pytest.raises(ValueError, match="No cluster's title starts with 'zzz'"):
        cluster_named("zzz", clusters)


def test_the_help_names_every_key_of_every_screen():
    from lmsys_tui.app import LmsysApp
    from lmsys_tui.screens.help import HELP
    from lmsys_tui.screens.inspector import InspectorScreen
    from lmsys_tui.screens.jobs import JobsScreen
    from lmsys_tui.screens.runs import RunsScreen
    from lmsys_tui.screens.search import SearchScreen

    sections = {name: " ".join(key for key, _ in keys) for name, keys in HELP}
    screens = {
        "everywhere": LmsysApp,
        "Runs": RunsScreen,
        "Clusters": ClustersScreen,
        "Query Inspector": InspectorScreen,
        "Search": SearchScreen,
        "Jobs": JobsScreen,
    }
    missing = []
    for name, screen in screens.items():
        listed = (sections[name] + " " + sections["everywhere"]).replace(",", " ").split()
        for binding in screen.BINDINGS:
            keys = binding.key.replace("question_mark", "?").replace("slash", "/")
            shown = binding.show or name == "everywhere"
            if shown and not any(key in listed for key in keys.split(",")):
                missing.append(f"{name}: {binding.key} ({binding.description})")
    assert not missing


async def test_another_run_never_shows_the_last_runs_detail(ui_copy):
    with open_workspace(ui_copy) as ws:
        run_job(ws, JobSpec(cluster=ClusterStep(n_clusters=2, run_id="k2")))
    async with clusters_of_k3(ui_copy) as (app, pilot):
        screen = app.screen
        tree = screen.query_one(Tree)
        tree.focus()
        await pilot.press("s")  # by title: the lone cluster "SQL query, ..." before the category
        await settle(pilot)
        # A category, then a cluster whose id k2 has too (ids of another run are other
        # clusters).
        for wanted in (lambda n: n.data is None, lambda n: n.data in (0, 1)):
            tree.root.expand_all()
            await settle(pilot)
            row = [n for n in _walk(tree.root) if wanted(n)][-1]
            tree.move_cursor(row)
            await settle(pilot)
            assert tree.cursor_node is row and tree.cursor_line > 0
            app.open_run("k2")  # as a zoom does when its run is made
            await settle(pilot)
            first = tree.root.children[0]
            assert tree.cursor_node is first and screen.detail_cluster == first.data
            assert static_text(screen, "#cluster-detail").startswith(f"cluster {first.data}\n")
            app.open_run("k3")
            await settle(pilot)


def test_a_runs_llm_spend_is_told_and_an_unknown_price_is_not_zero():
    from datetime import datetime

    from lmsys_tui.engine.browse import HierarchyInfo, RunInfo, SummaryRunInfo
    from lmsys_tui.screens.runs import cost_cell, describe_run

    when = datetime(2026, 1, 2, 3, 4)

    def run(*ledgers) -> RunInfo:
        names = [
            SummaryRunInfo(f"s{i}", None, "m", when, "complete", u) for i, u in enumerate(ledgers)
        ]
        tree = HierarchyInfo("h", "s0", "offline", [3, 2])
        return RunInfo("r", "kmeans", "sp", "mini", 35, 3, None, {}, when, None, names, [tree])

    paid = {"requests": 3, "cost": 0.0123, "unpriced": 0}
    local = {"requests": 4, "cost": 0.0, "unpriced": 4}
    assert "LLM" not in str(describe_run(run(None)))  # offline names
    assert "\nLLM: 3 requests, $0.0123\n" in str(describe_run(run(paid)))
    assert "\nLLM: 7 requests, $0.0123\n" in str(describe_run(run(paid, local)))
    assert "\nLLM: 4 requests, no price known\n" in str(describe_run(run(local)))
    cells = [cost_cell(run(*ledgers)) for ledgers in ((None,), (paid,), (paid, local), (local,))]
    assert cells == ["-", "$0.0123", "$0.0123", "no price"]  # the table's LLM cost column


async def test_the_clusters_tree_takes_half_a_narrow_terminal_and_two_fifths_of_a_wide_one(
    ui_root,
):
    async with clusters_of_k3(ui_root, size=(80, 24)) as (app, pilot):
        tree = app.screen.query_one("#tree-pane")
        assert app.has_class("-narrow") and tree.outer_size.width == 40
        await pilot.resize_terminal(100, 30)
        await settle(pilot)
        assert app.has_class("-narrow") and tree.outer_size.width == 50
        await pilot.resize_terminal(150, 40)
        await settle(pilot)
        assert not app.has_class("-narrow") and tree.outer_size.width == 60


async def test_the_footer_follows_the_screen_and_the_focus_and_1_returns_to_the_runs(ui_root):
    def keys_shown() -> list[str]:
        return [key.description for key in app.screen.query(FooterKey)]

    app = make_app(ui_root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        runs = app.screen
        assert "Mark to compare" in keys_shown() and "Rename" not in keys_shown()
        await pilot.press("2")
        await settle(pilot)
        assert "Rename" in keys_shown() and "Mark to compare" not in keys_shown()
        await pilot.press("1")
        await settle(pilot)
        assert app.screen is runs and "Mark to compare" in keys_shown()
        # The search box takes the digits and q as text: their keys leave the footer,
        # and come back when the focus leaves the box.
        await pilot.press("3")
        await settle(pilot)
        assert "Mode" in keys_shown() and "Quit" not in keys_shown()
        await pilot.press("tab")
        await settle(pilot)
        assert "Quit" in keys_shown() and "Runs" in keys_shown()


async def test_a_theme_chosen_on_one_screen_reaches_the_screens_made_before_and_after(ui_root):
    app = make_app(ui_root)

    def background() -> tuple[str, str]:
        screen = app.screen
        return screen.styles.background.hex, screen.query_one(KeysFooter).styles.background.hex

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dark = background()
        await pilot.press("2")
        await settle(pilot)
        app.theme = "textual-light"
        await settle(pilot)
        light = background()
        assert light != dark
        for key in "143":  # made before the change, and made after it
            await pilot.press(key)
            await settle(pilot)
            assert background() == light, key
        app.theme = "textual-dark"
        await settle(pilot)
        for key in "21":
            await pilot.press(key)
            await settle(pilot)
            assert background() == dark, key
