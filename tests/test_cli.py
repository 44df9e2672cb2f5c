"""The lmsys-tui command: --run-job exit codes and JSON output, the workspace summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lmsys_tui.cli import main


def run_cli(*args, env_home=None):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    if env_home:
        env["LMSYS_TUI_HOME"] = str(env_home)
    return subprocess.run(
        [sys.executable, "-m", "lmsys_tui.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_run_job_end_to_end_with_json_on_stdout(tmp_path, lmsys_file):
    job = tmp_path / "job.toml"
    job.write_text(
        f'[load]\nsource = "{lmsys_file}"\n\n[embed]\ndevice = "cpu"\n\n'
        '[cluster]\nalgorithm = "kmeans"\nn_clusters = 3\n\n'
        '[summarize]\nalias = "v1"\n\n[hierarchy]\nlevels = 2\nmerge_ratio = 0.5\n'
    )
    done = run_cli("--data-dir", str(tmp_path / "ws"), "--run-job", str(job), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # stdout is exactly one JSON document
    assert result["load"]["loaded"] == 30
    assert result["embed"] == {
        **result["embed"],
        "space_id": "st-all-minilm-l6-v2",
        "embedded": 30,
        "dim": 384,
    }
    assert result["cluster"]["n_clusters"] == 3 and result["cluster"]["n_queries"] == 30
    assert "embed:" in done.stderr  # plain progress lines when not a terminal
    assert result["summarize"]["summarized"] == 3 and result["summarize"]["alias"] == "v1"
    assert result["hierarchy"]["nodes_per_level"] == [3, 2]  # no lone root

    status = run_cli("--json", env_home=tmp_path / "ws")
    summary = json.loads(status.stdout)
    assert summary["sources"] == [{"source": "chats.jsonl", "queries": 30}]
    assert summary["runs"][0]["clusters"] == 3
    assert summary["summary_runs"][0]["alias"] == "v1"
    assert summary["summary_runs"][0]["clusters"] == 3
    assert summary["hierarchies"][0]["nodes_by_level"] == [3, 2]  # a list, as in runs --json
    # Where the room goes: the vectors are exactly 30 rows of 384 float16s past a header.
    disk = summary["disk"]
    assert 30 * 384 * 2 < disk["vectors"] < 30 * 384 * 2 + 4096
    assert disk["database"] == (tmp_path / "ws" / "lmsys.duckdb").stat().st_size
    assert disk["indexes"] > 0 and disk["total"] >= sum(v for k, v in disk.items() if k != "total")
    # Piped, the summary is wide enough that ids can be copied whole (not "kmeans-3-20…").
    piped = run_cli("status", env_home=tmp_path / "ws").stdout
    for run_id in (result["cluster"]["run_id"], result["summarize"]["summary_run_id"]):
        assert run_id in piped
    assert "disk: database " in piped and " in all" in piped


def test_bad_job_file_fails_with_one_line_and_json_error(tmp_path, capsys):
    job = tmp_path / "job.toml"
    job.write_text('[load]\nsourc = "x"\n')
    assert main(["--data-dir", str(tmp_path / "ws"), "--run-job", str(job), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "error": f"{job}:2: load.sourc: unknown key; did you mean 'source'?"
    }
    assert captured.err.strip().count("\n") == 0 and "Traceback" not in captured.err


def test_missing_source_fails_without_traceback(tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(f'[load]\nsource = "{tmp_path / "nothing.parquet"}"\n')
    done = run_cli("--data-dir", str(tmp_path / "ws"), "--run-job", str(job))
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: no such file or folder: {tmp_path / 'nothing.parquet'}"
    assert done.stdout == ""


def test_summary_of_a_missing_workspace_is_an_error(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path / "none")]) == 2
    assert "no workspace" in capsys.readouterr().err


# Ctrl-C inside a DuckDB query: DuckDB stops it and raises this plain RuntimeError.
@pytest.mark.parametrize("signal", [KeyboardInterrupt(), RuntimeError("Query interrupted")])
def test_ctrl_c_exits_130_with_a_resume_hint(tmp_path, capsys, monkeypatch, signal):
    from lmsys_tui import batch

    def interrupted(ws, spec, progress):
        raise signal

    monkeypatch.setattr(batch, "run_job", interrupted)
    job = tmp_path / "job.toml"
    job.write_text('[load]\nsource = "sharegpt-sample"\n')
    assert batch.run_job_file(str(job), tmp_path / "ws", as_json=False) == 130
    assert "run the job again to resume" in capsys.readouterr().err


def test_plain_progress_prints_messages_and_throttles_counts():
    import io

    from lmsys_tui.batch import PlainProgress
    from lmsys_tui.engine.progress import Progress

    stream = io.StringIO()
    sink = PlainProgress(stream, interval=3600)
    sink(Progress("embed", 0, 100, "loading model"))
    for done in range(1, 101):
        sink(Progress("embed", done, 100))
    assert stream.getvalue().splitlines() == ["embed: loading model", "embed: 100/100"]
    # A message sent again with each chunk's count reads as counts, not as repeats.
    for done in (0, 50, 100):
        sink(Progress("index", done, 100, "indexing space"))
    assert stream.getvalue().splitlines()[2:] == [
        "index: indexing space",
        "index: indexing space 100/100",
    ]


def test_summary_shows_source_names_literally(tmp_path):
    path = tmp_path / "[bold]evil[red].jsonl"
    path.write_text(
        '{"conversation_id": "1", "conversation": [{"role": "user", "content": "hi"}]}\n'
    )
    job = tmp_path / "job.toml"
    job.write_text(f"[load]\nsource = {json.dumps(str(path))}\n")
    assert run_cli("--data-dir", str(tmp_path / "ws"), "--run-job", str(job)).returncode == 0
    shown = run_cli("--data-dir", str(tmp_path / "ws"))
    assert "[bold]evil[red].jsonl" in shown.stdout


def test_reading_an_older_workspace_upgrades_it_first(tmp_path, capsys):
    import duckdb

    from lmsys_tui.engine.store import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version

    (tmp_path / "ws").mkdir()
    con = duckdb.connect(str(tmp_path / "ws" / "lmsys.duckdb"))
    migrate(con, MIGRATIONS[:1])  # a workspace written by the first release
    con.close()
    assert main(["--data-dir", str(tmp_path / "ws"), "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == []
    con = duckdb.connect(str(tmp_path / "ws" / "lmsys.duckdb"), read_only=True)
    assert schema_version(con) == SCHEMA_VERSION
    con.close()


def test_status_says_what_a_workspace_lacks_in_a_line_and_writes_counts_as_counts(tmp_path, capsys):
    from lmsys_tui.engine.workspace import open_workspace
    from lmsys_tui.status import _cell

    open_workspace(tmp_path / "ws").close()  # a workspace, still empty
    assert main(["--data-dir", str(tmp_path / "ws"), "status"]) == 0
    printed = capsys.readouterr().out.splitlines()
    for title in ("Sources", "Embedding spaces", "Clustering runs", "Hierarchies"):
        assert f"{title}: none" in printed  # not a title wrapped over an empty table
    assert (_cell(999672), _cell([1200, 40]), _cell(0.0568), _cell(None)) == (
        "999,672",
        "1,200 -> 40",
        "0.0568",
        "-",
    )
