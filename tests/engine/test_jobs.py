"""Job files: validation errors with line and key, steps skipped and reused."""

from __future__ import annotations

import json

import pytest

from lmsys_tui.engine import jobs
from lmsys_tui.engine.errors import JobFileError
from lmsys_tui.engine.jobs import parse_job_file, run_job
from lmsys_tui.engine.specs import JobSpec
from lmsys_tui.engine.workspace import open_workspace
from tests.conftest import HashEmbedder


def write(tmp_path, text):
    path = tmp_path / "job.toml"
    path.write_text(text)
    return path


def test_quickstart_example_is_valid():
    spec = parse_job_file("examples/quickstart.toml")
    assert spec.load.source == "sharegpt-sample"
    assert spec.embed.model == "all-MiniLM-L6-v2"
    assert (spec.cluster.algorithm, spec.cluster.n_clusters) == ("kmeans", 50)
    assert spec.summarize.model == "offline" and spec.hierarchy.levels == 3


def test_unknown_key_names_line_key_and_suggestion(tmp_path):
    path = write(
        tmp_path, '[load]\nsource = "x.jsonl"\n\n[cluster]\nalgorithm = "kmeans"\nn_clustrs = 5\n'
    )
    with pytest.raises(JobFileError) as caught:
        parse_job_file(path)
    assert (
        str(caught.value) == f"{path}:6: cluster.n_clustrs: unknown key; did you mean 'n_clusters'?"
    )


def test_wrong_type_names_line_and_key(tmp_path):
    path = write(tmp_path, '[load]\nsource = "x.jsonl"\nlimit = "lots"\n')
    with pytest.raises(JobFileError, match=r"job.toml:3: load.limit: .*integer.*'lots'"):
        parse_job_file(path)


def test_unknown_section_and_bad_value(tmp_path):
    with pytest.raises(JobFileError, match=r":1: lod: unknown key; did you mean 'load'"):
        parse_job_file(write(tmp_path, '[lod]\nsource = "x"\n'))
    with pytest.raises(JobFileError, match=r":2: cluster.algorithm: Input should be 'kmeans'"):
        parse_job_file(write(tmp_path, '[cluster]\nalgorithm = "dbscan"\n'))
    with pytest.raises(JobFileError, match=r"load: Field required|load.source: Field required"):
        parse_job_file(write(tmp_path, "[load]\nlimit = 5\n"))


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(JobFileError, match=r"invalid TOML: .*line 2"):
        parse_job_file(write(tmp_path, '[load]\nsource = "unterminated\n'))
    with pytest.raises(JobFileError, match="no such job file"):
        parse_job_file(tmp_path / "nope.toml")


def test_run_job_runs_steps_then_reuses_them(tmp_path, lmsys_file, monkeypatch):
    monkeypatch.setattr(
        jobs, "embed_queries", lambda ws, step, progress: _embed_with_hash(ws, step, progress)
    )
    monkeypatch.setattr(jobs, "make_embedder", lambda step: HashEmbedder())
    spec = JobSpec.model_validate(
        {
            "load": {"source": str(lmsys_file)},
            "embed": {"model": "hash-test-model"},
            "cluster": {"n_clusters": 3, "seed": 1},
        }
    )
    with open_workspace(tmp_path / "ws") as ws:
        first = run_job(ws, spec)
        second = run_job(ws, spec)
        statuses = ws.con.execute("SELECT status, step FROM jobs ORDER BY started_at").fetchall()
    assert first["load"]["loaded"] == 30 and first["embed"]["embedded"] == 30
    assert not first["cluster"]["reused"]
    assert second["load"]["loaded"] == 0 and second["embed"]["embedded"] == 0
    assert second["cluster"]["reused"] and second["cluster"]["run_id"] == first["cluster"]["run_id"]
    assert statuses == [("succeeded", "cluster"), ("succeeded", "cluster")]
    json.dumps(first)  # results are plain JSON


def test_a_failing_step_is_recorded_on_the_job(tmp_path):
    spec = JobSpec.model_validate({"load": {"source": str(tmp_path / "missing.jsonl")}})
    with open_workspace(tmp_path / "ws") as ws:
        with pytest.raises(Exception, match="no such file"):
            run_job(ws, spec)
        row = ws.con.execute("SELECT status, step, error FROM jobs").fetchall()[0]
    assert row[0] == "failed" and row[1] == "load" and "no such file" in row[2]


def _embed_with_hash(ws, step, progress):
    from lmsys_tui.engine.embedding.embed import embed_queries

    return embed_queries(ws, step, progress, embedder=HashEmbedder())


def test_relative_paths_in_a_job_file_are_read_beside_it(tmp_path, monkeypatch):
    from lmsys_tui.engine.errors import SourceError
    from lmsys_tui.engine.jobs import parse_job_file
    from lmsys_tui.engine.load.sources import resolve

    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "data.jsonl").write_text("{}\n", encoding="utf-8")
    job = folder / "job.toml"
    job.write_text(
        '[load]\nsource = "data.jsonl"\n\n[summarize]\nmodel = "taxonomy"\n'
        'taxonomy = "topics.csv"\n\n[export]\npath = "out/clusters.csv"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # run from somewhere else
    spec = parse_job_file(job)
    assert spec.load.source == str(folder / "data.jsonl")
    assert spec.summarize.taxonomy == str(folder / "topics.csv")
    assert spec.export.path == str(folder / "out" / "clusters.csv")
    hub = folder / "hub.toml"
    hub.write_text('[load]\nsource = "lmsys/lmsys-chat-1m"\n', encoding="utf-8")
    assert parse_job_file(hub).load.source == "lmsys/lmsys-chat-1m"  # a dataset name stays
    with pytest.raises(SourceError, match=f"no such file or folder: {tmp_path}/missing.jsonl"):
        resolve("missing.jsonl", None, None)
