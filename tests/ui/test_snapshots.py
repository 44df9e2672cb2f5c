"""Snapshots of every screen, empty and populated, at a fixed size on a fixed workspace."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Tree

from lmsys_tui.app import make_app
from tests.ui.test_journeys import settle, wait_until
from tests.ui_workspace import query_id_of

SIZE = (120, 36)


def snap(snap_compare, app, run_before=None, size=SIZE):
    async def before(pilot):
        await settle(pilot)
        if run_before is not None:
            await run_before(pilot)
            await settle(pilot)
        for text_input in pilot.app.screen.query(Input):
            text_input.cursor_blink = False  # a steady cursor, whatever the timing
        await pilot.pause()

    return snap_compare(app, terminal_size=size, run_before=before)


def test_welcome_on_an_empty_workspace(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert snap(snap_compare, make_app(Path("empty-workspace")))


def test_runs_empty(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    async def close_welcome(pilot):
        await pilot.press("escape")

    assert snap(snap_compare, make_app(Path("empty-workspace")), close_welcome)


def test_runs(snap_compare, ui_root):
    assert snap(snap_compare, make_app(ui_root))


async def open_leaf(pilot):
    pilot.app.open_run("k3")
    await settle(pilot)
    tree = pilot.app.screen.query_one(Tree)
    tree.root.expand_all()
    await pilot.pause()
    leaf = next(n for n in _walk(tree.root) if n.data is not None)
    tree.move_cursor(leaf)
    await settle(pilot)
    await pilot.press("enter")


def test_clusters_tree_with_detail(snap_compare, ui_root):
    assert snap(snap_compare, make_app(ui_root), open_leaf)


def test_clusters_filtered_to_nothing(snap_compare, ui_root):
    async def filter_out(pilot):
        pilot.app.open_run("k3")
        await settle(pilot)
        pilot.app.screen.query_one("#cluster-filter", Input).value = "zzz-no-such-title"

    assert snap(snap_compare, make_app(ui_root), filter_out)


def test_inspector_with_neighbours(snap_compare, ui_root):
    query_id = query_id_of(ui_root, "sql-0")

    async def inspect(pilot):
        pilot.app.inspect_query(query_id)
        await wait_until(pilot, lambda: _neighbours(pilot) == 10)

    assert snap(snap_compare, make_app(ui_root), inspect)


def _neighbours(pilot) -> int:
    tables = pilot.app.screen.query("#neighbours").results(DataTable)
    return next((table.row_count for table in tables), -1)  # -1: not composed yet


def test_inspector_of_hostile_markup(snap_compare, ui_root):
    query_id = query_id_of(ui_root, "hostile-markup")

    async def inspect(pilot):
        pilot.app.inspect_query(query_id)
        await wait_until(pilot, lambda: _neighbours(pilot) == 10)

    assert snap(snap_compare, make_app(ui_root), inspect)


def test_search_empty(snap_compare, ui_root):
    async def open_search(pilot):
        await pilot.press("3")

    assert snap(snap_compare, make_app(ui_root), open_search)


async def keyword_search(pilot):
    await pilot.press("3")
    screen = pilot.app.screen
    screen.query_one("#search-mode").value = "keyword"
    screen.query_one("#search-input", Input).value = "recipe chicken"
    await wait_until(
        pilot, lambda: "candidates" in str(screen.query_one("#search-status").render())
    )


def test_search_keyword_results_with_facets(snap_compare, ui_root):
    assert snap(snap_compare, make_app(ui_root), keyword_search)


SIZES = pytest.mark.parametrize("size", [(80, 24), (140, 45)], ids=["80x24", "140x45"])


@SIZES
def test_runs_at_size(snap_compare, ui_root, size):
    assert snap(snap_compare, make_app(ui_root), size=size)


@SIZES
def test_clusters_at_size(snap_compare, ui_root, size):
    assert snap(snap_compare, make_app(ui_root), open_leaf, size=size)


@SIZES
def test_search_at_size(snap_compare, ui_root, size):
    assert snap(snap_compare, make_app(ui_root), keyword_search, size=size)


def test_jobs_form(snap_compare, ui_root):
    async def open_jobs(pilot):
        await pilot.press("4")

    assert snap(snap_compare, make_app(ui_root), open_jobs)


def test_help(snap_compare, ui_root):
    async def open_help(pilot):
        await pilot.press("question_mark")

    assert snap(snap_compare, make_app(ui_root), open_help)


def _walk(node):
    for child in node.children:
        yield child
        yield from _walk(child)


def test_welcome_fits_80_columns(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert snap(snap_compare, make_app(Path("empty-workspace")), size=(80, 24))
