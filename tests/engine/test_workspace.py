"""Workspace, schema migrations and the vector file."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from lmsys_tui.engine.embedding.vectors import VectorFile
from lmsys_tui.engine.errors import WorkspaceError
from lmsys_tui.engine.store import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version
from lmsys_tui.engine.workspace import open_workspace
from lmsys_tui.locations import data_dir


def test_new_workspace_has_current_schema_and_folders(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        assert schema_version(ws.con) == SCHEMA_VERSION
        assert ws.count("queries") == 0
    assert (tmp_path / "ws" / "lmsys.duckdb").exists()
    assert (tmp_path / "ws" / "vectors").is_dir() and (tmp_path / "ws" / "index").is_dir()


def test_migrations_run_in_order_once(tmp_path):
    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    steps = [["CREATE TABLE a (x INTEGER)"], ["ALTER TABLE a ADD COLUMN y INTEGER"]]
    assert migrate(con, steps[:1]) == 1
    assert migrate(con, steps) == 2
    assert migrate(con, steps) == 2  # nothing left to do
    assert [c[0] for c in con.execute("DESCRIBE a").fetchall()] == ["x", "y"]


def test_queries_keep_their_rows_when_v11_rebuilds_the_table(tmp_path):
    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    migrate(con, MIGRATIONS[:10])
    con.execute(
        "INSERT INTO queries VALUES (7, 'c1', 'src', 'm', 'English', 'hello', 1, '{\"k\": 1}', "
        "TIMESTAMP '2026-01-01 00:00:00')"
    )
    migrate(con)
    rows = con.execute("SELECT query_id, conversation_id, query_text, extra FROM queries")
    assert rows.fetchall() == [(7, "c1", "hello", '{"k": 1}')]
    with pytest.raises(duckdb.ConstraintException):  # query_id stays the primary key
        con.execute(
            "INSERT INTO queries VALUES (7, 'c2', 's', NULL, NULL, 'x', 1, NULL, now()::TIMESTAMP)"
        )


def test_a_failed_migration_leaves_the_previous_version(tmp_path):
    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    migrate(con, [["CREATE TABLE a (x INTEGER)"]])
    with pytest.raises(duckdb.Error):
        migrate(con, [["CREATE TABLE a (x INTEGER)"], ["CREATE TABLE b (x INT)", "BROKEN SQL"]])
    assert schema_version(con) == 1
    assert (
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'b'"
        ).fetchall()[0][0]
        == 0
    )


def test_a_newer_workspace_is_refused(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        ws.con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(WorkspaceError, match="newer"):
        open_workspace(tmp_path / "ws")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "lmsys.duckdb").write_text("hello")
    with pytest.raises(WorkspaceError):
        open_workspace(tmp_path / "ws")


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("LMSYS_TUI_HOME", str(tmp_path / "env"))
    assert data_dir(str(tmp_path / "flag")) == tmp_path / "flag"
    assert data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("LMSYS_TUI_HOME")
    assert "lmsys-tui" in str(data_dir(None))


def test_vector_file_is_a_loadable_npy_and_drops_uncommitted_rows(tmp_path):
    path = tmp_path / "v.f16.npy"
    vectors = VectorFile(path, dim=4, committed_rows=0)
    first = np.arange(8, dtype=np.float32).reshape(2, 4)
    assert vectors.append(first) == 0
    assert vectors.append(first + 100) == 2
    loaded = np.load(path, mmap_mode="r")
    assert loaded.shape == (4, 4) and loaded.dtype == np.float16
    np.testing.assert_array_equal(loaded[2], first[0] + 100)
    reopened = VectorFile(path, dim=4, committed_rows=3)  # DuckDB committed only 3 rows
    assert reopened.array().shape == (3, 4)
    assert path.stat().st_size == 128 + 3 * 4 * 2
    with pytest.raises(ValueError):
        VectorFile(path, dim=4, committed_rows=10)
