"""Faults from outside (a full disk, a file system that refuses writes, a killed process):
one line saying what and where, nothing committed lost, and the next run finishes."""

from __future__ import annotations

import errno
import json
import shutil

from lmsys_tui.cli import main
from lmsys_tui.engine import jobs
from lmsys_tui.engine.embedding.vectors import VectorFile
from lmsys_tui.engine.workspace import open_workspace
from tests.conftest import HashEmbedder


def _hash_embedding(monkeypatch):
    from lmsys_tui.engine.embedding.embed import embed_queries

    monkeypatch.setattr(
        jobs,
        "embed_queries",
        lambda ws, step, progress: embed_queries(
            ws, step, progress, embedder=HashEmbedder(), chunk_size=8
        ),
    )
    monkeypatch.setattr(jobs, "make_embedder", lambda step: HashEmbedder())


def test_a_full_disk_during_embed_is_one_line_and_the_rerun_finishes(
    tmp_path, lmsys_file, monkeypatch, capsys
):
    _hash_embedding(monkeypatch)
    job = tmp_path / "job.toml"
    job.write_text(f'[load]\nsource = "{lmsys_file}"\n[embed]\nmodel = "hash-test-model"\n')
    root = tmp_path / "ws"
    append = VectorFile.append
    calls = []

    def full_after_one_chunk(self, vectors):
        calls.append(len(vectors))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return append(self, vectors)

    monkeypatch.setattr(VectorFile, "append", full_after_one_chunk)
    code = main(["--data-dir", str(root), "--run-job", str(job), "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    message = json.loads(out)["error"]
    assert message.startswith("the disk is full (") and "vectors" in message
    assert err.strip().splitlines()[-1] == f"error: {message}"  # one line, no traceback
    assert "Traceback" not in err
    with open_workspace(root) as ws:
        assert ws.count("embeddings") == 8  # the committed chunk is kept
        assert ws.con.execute("SELECT status FROM jobs").fetchall() == [("failed",)]

    monkeypatch.setattr(VectorFile, "append", append)  # space freed
    assert main(["--data-dir", str(root), "--run-job", str(job), "--json"]) == 0
    with open_workspace(root) as ws:
        assert ws.count("embeddings") == 30


def test_an_index_that_cannot_be_saved_still_answers_the_search(
    ui_root, tmp_path, monkeypatch, capsys
):
    from usearch.index import Index

    root = tmp_path / "ws"
    shutil.copytree(ui_root, root)
    for path in (root / "index").glob("*.queries.*"):
        path.unlink()

    def refuse(self, path, *args, **kwargs):
        raise RuntimeError("Failed to serialize into stream")

    monkeypatch.setattr(Index, "save", refuse)
    code = main(["--data-dir", str(root), "search", "SQL join", "--mode", "semantic", "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["hits"]
    assert "cannot save index" in err and "searching with it unsaved" in err
    assert not list((root / "index").glob("*.partial"))


def test_a_job_killed_mid_way_shows_as_interrupted(ui_root, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(ui_root, root)
    with open_workspace(root) as ws:  # what a process killed with -9 leaves behind
        ws.con.execute(
            "INSERT INTO jobs VALUES ('job-killed', '{\"embed\": {}}', 'running', 'embed', "
            "NULL, NULL, now()::TIMESTAMP, NULL)"
        )
    with open_workspace(root) as ws:
        status, error = ws.con.execute(
            "SELECT status, error FROM jobs WHERE job_id = 'job-killed'"
        ).fetchall()[0]
    assert status == "interrupted" and "run the job again" in error
