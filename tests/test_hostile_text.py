"""Text from data and edits never reaches the terminal as escapes, bells or bidi controls:
in every CLI table and on every TUI screen (one sanitiser: lmsys_tui.safe_text)."""

from __future__ import annotations

import shutil

import pytest
from textual.widgets import DataTable, Static, Tree

from lmsys_tui.cli import main
from lmsys_tui.engine.workspace import open_workspace
from tests.ui_workspace import query_id_of

HOSTILE = "evil\x1b[2J\x1b]0;owned\x07\u202etxet\x9b31m"
UNSAFE = ("\x1b", "\x07", "\u202e", "\x9b")


def unsafe(text: str) -> list[str]:
    return [char for char in UNSAFE if char in text]


@pytest.fixture
def hostile_root(ui_root, tmp_path):
    """The UI workspace with hostile strings in every place a user or the data can put one
    (written straight into DuckDB: the edit commands refuse them now)."""
    root = tmp_path / "ws"
    shutil.copytree(ui_root, root)
    sql_query = query_id_of(root, "sql-0")
    with open_workspace(root) as ws:
        con = ws.con
        cluster_id = con.execute(
            "SELECT cluster_id FROM query_clusters WHERE run_id = 'k3' AND query_id = ?",
            [sql_query],
        ).fetchall()[0][0]
        con.execute(
            "UPDATE cluster_summaries SET title = ?, description = ? WHERE cluster_id = ?",
            [HOSTILE, HOSTILE, cluster_id],
        )
        con.execute("UPDATE hierarchy_nodes SET title = ?", [HOSTILE])
        con.execute(
            "UPDATE queries SET model = ?, language = ?, extra = ?::JSON WHERE query_id = ?",
            [HOSTILE, HOSTILE, '{"topic": "evil\\u001b[2J"}', sql_query],
        )
        con.execute(
            "INSERT INTO cluster_tags VALUES ('k3', ?, ?, NULL, now()::TIMESTAMP)",
            [cluster_id, HOSTILE],
        )
        con.execute(
            "INSERT INTO edits VALUES (99, 'k3', 'rename', '{}'::JSON, ?::JSON, NULL, ?, "
            "now()::TIMESTAMP)",
            ['{"title": "evil\\u001b[2J"}', HOSTILE],
        )
    return root, sql_query, cluster_id


def test_no_cli_table_writes_a_control_sequence(hostile_root, capsys):
    root, query_id, cluster_id = hostile_root
    commands = [
        ["runs"],
        ["clusters", "k3"],
        ["inspect", "k3", str(cluster_id)],
        ["query", str(query_id)],
        ["hierarchy", "k3"],
        ["search", "write a SQL query that joins two tables", "--mode", "keyword"],
        ["search", "SQL", "--mode", "keyword", "--facets", "model,language"],
        ["search-clusters", "SQL"],
        ["audit", "k3"],
        ["status"],
    ]
    for command in commands:
        code = main(["--data-dir", str(root), *command])
        out = capsys.readouterr().out
        assert code == 0, command
        if command[0] in ("clusters", "inspect", "query", "hierarchy", "audit"):
            assert "evil" in out, command  # shown, made safe
        assert not unsafe(out), (command, unsafe(out))


def _screen_text(screen) -> str:
    parts = []
    for tree in screen.query(Tree):
        stack = [tree.root]
        while stack:
            node = stack.pop()
            parts.append(str(node.label))
            stack.extend(node.children)
    for table in screen.query(DataTable):
        for row in range(table.row_count):
            parts.extend(str(cell) for cell in table.get_row_at(row))
        parts.append(str(table.border_title or ""))
    from tests.ui.test_journeys import shown_text

    for static in screen.query(Static):
        parts.append(shown_text(static))
    return "\n".join(parts)


async def test_no_tui_screen_shows_a_control_sequence(hostile_root):
    from tests.ui.test_journeys import clusters_of_k3, settle

    root, query_id, cluster_id = hostile_root
    async with clusters_of_k3(root, size=(140, 45)) as (app, pilot):
        clusters = app.screen
        tree = clusters.query_one(Tree)
        tree.root.expand_all()
        await settle(pilot)
        clusters.open_cluster(cluster_id)
        await settle(pilot)
        text = _screen_text(clusters)
        assert "evil" in text and not unsafe(text), unsafe(text)
        for mode in ("runs", "search"):
            app.switch_mode(mode)
            await settle(pilot)
            if mode == "search":
                await pilot.press(*"SQL join")
                await pilot.pause(0.3)
                await settle(pilot)
            text = _screen_text(app.screen)
            assert not unsafe(text), (mode, unsafe(text))
        app.inspect_query(query_id)
        await settle(pilot)
        text = _screen_text(app.screen)
        assert "evil" in text and not unsafe(text), unsafe(text)
