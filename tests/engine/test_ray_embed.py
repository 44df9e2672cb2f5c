"""Embedding on a local Ray (2 model actors): the same vectors as the local path, in the
same rows of the vector file, and a run interrupted after a shard resumes after it."""

from __future__ import annotations

import numpy as np
import pytest

from lmsys_tui.engine.embedding.embed import embed_queries, load_space_vectors
from lmsys_tui.engine.errors import EmbedError
from lmsys_tui.engine.executors import ray_embed, ray_session
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.specs import EmbedStep, LoadStep
from lmsys_tui.engine.workspace import open_workspace
from tests.conftest import fixture_rows, write_jsonl

PROMPTS = 2_000


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    base = [row["conversation"][0]["content"] for row in fixture_rows()]
    rows = [
        {"id": i, "prompt": f"{base[i % len(base)]} (variant {i}{' more' * (i % 7)})"}
        for i in range(PROMPTS)
    ]
    return write_jsonl(tmp_path_factory.mktemp("ray") / "prompts.jsonl", rows)


@pytest.fixture(autouse=True)
def no_ray_left_running():
    """An interrupted run leaves its local Ray up (see ray_embed); stop it after the test."""
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _embedded(root, source, step, progress=lambda event: None):
    with open_workspace(root) as ws:
        load(ws, LoadStep(source=str(source), text_column="prompt", id_column="id"))
        result = embed_queries(ws, step, progress)
        ids, vectors = load_space_vectors(ws, result.space_id)
        rows = dict(ws.con.execute("SELECT query_id, row_index FROM embeddings").fetchall())
    return result, ids, vectors.astype(np.float32), rows


def test_ray_gives_the_local_vectors_in_the_same_rows_and_resumes(
    tiny_bert, source, tmp_path, monkeypatch
):
    monkeypatch.setattr(ray_embed, "SHARD_QUERIES", 500)  # 4 shards of 500
    monkeypatch.setattr(ray_embed, "ACTOR_BATCH", 500)
    local_step = EmbedStep(model=str(tiny_bert), precision="fp32")
    _, local_ids, local_vectors, local_rows = _embedded(tmp_path / "local", source, local_step)

    ray_step = EmbedStep(model=str(tiny_bert), precision="fp32", executor="ray", ray_workers=2)
    messages = []

    def stop_after_first_shard(event):
        messages.append(event.message)
        if 0 < event.done < PROMPTS:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _embedded(tmp_path / "ray", source, ray_step, stop_after_first_shard)
    assert "embedding on Ray: 4 shards, 2 workers" in messages
    with open_workspace(tmp_path / "ray") as ws:
        assert ws.count("embeddings") == 500  # the first shard, committed
        assert not (ws.tmp_dir / "ray-shards").exists() or not any(
            (ws.tmp_dir / "ray-shards").rglob("*.parquet")
        )

    result, ray_ids, ray_vectors, ray_rows = _embedded(tmp_path / "ray", source, ray_step)
    assert (result.embedded, result.already_embedded) == (PROMPTS - 500, 500)
    assert np.array_equal(local_ids, ray_ids) and ray_rows == local_rows
    cosine = np.sum(local_vectors * ray_vectors, axis=1) / (
        np.linalg.norm(local_vectors, axis=1) * np.linalg.norm(ray_vectors, axis=1)
    )
    assert cosine.min() >= 0.9999


def test_without_ray_installed_the_step_says_what_to_install(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(EmbedError, match=r"pip install \"ray\[data,client\]==2.60.0\""):
        ray_session.connect(None, 1, EmbedError)
