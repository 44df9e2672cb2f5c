"""k-means on a local Ray (2 task slots): trained here on a sample, every point labelled
by Ray tasks reading the vector file; the local path's run when the sample is every point."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lmsys_tui.engine.clustering.runs import cluster_space
from lmsys_tui.engine.embedding.embed import embed_queries
from lmsys_tui.engine.executors import ray_kmeans
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.specs import ClusterStep, EmbedStep, LoadStep
from lmsys_tui.engine.workspace import open_workspace
from tests.conftest import WordHashEmbedder, write_jsonl

TOPICS = ["python code error", "paris travel hotel", "poem love moon", "sql join table"]
PROMPTS = 3_000


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """3,000 prompts about four topics, a filler word each, embedded by word hashes."""
    rng = np.random.default_rng(0)
    filler = [f"word{i}" for i in range(300)]
    rows = [{"id": i, "prompt": f"{TOPICS[i % 4]} {rng.choice(filler)}"} for i in range(PROMPTS)]
    folder = tmp_path_factory.mktemp("ray-kmeans")
    root = folder / "ws"
    with open_workspace(root) as ws:
        source = write_jsonl(folder / "prompts.jsonl", rows)
        load(ws, LoadStep(source=str(source), text_column="prompt", id_column="id"))
        space = embed_queries(ws, EmbedStep(), embedder=WordHashEmbedder()).space_id
    return root, space


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (the steps join it): starting one takes seconds."""
    import ray

    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _run(ws, run_id):
    members = ws.con.execute(
        "SELECT query_id, cluster_id, distance FROM query_clusters WHERE run_id = ? "
        "ORDER BY query_id",
        [run_id],
    ).fetchnumpy()
    clusters = ws.con.execute(
        "SELECT cluster_id, size, centroid FROM clusters WHERE run_id = ? ORDER BY 1", [run_id]
    ).fetchall()
    parameters, metrics = ws.con.execute(
        "SELECT parameters, metrics FROM clustering_runs WHERE run_id = ?", [run_id]
    ).fetchall()[0]
    return members, clusters, json.loads(parameters), json.loads(metrics)


def test_ray_labels_every_point_as_the_local_path_does(embedded, tmp_path):
    root, space = embedded
    messages = []
    with open_workspace(root) as ws:
        cluster_space(ws, ClusterStep(n_clusters=12, run_id="local"), space)
        cluster_space(
            ws,
            ClusterStep(n_clusters=12, run_id="ray", executor="ray", ray_workers=2),
            space,
            lambda event: messages.append(event.message),
        )
        local, local_clusters, _, local_metrics = _run(ws, "local")
        ray, ray_clusters, parameters, metrics = _run(ws, "ray")
    # 3,000 points fit the training sample (12 x 256): the same k-means, every point labelled alike.
    assert "training on 3,000 of 3,000 vectors" in messages
    assert "labelled 3,000 of 3,000 on Ray" in messages
    assert np.array_equal(local["query_id"], ray["query_id"])
    assert np.array_equal(local["cluster_id"], ray["cluster_id"])
    np.testing.assert_allclose(local["distance"], ray["distance"], atol=1e-5)
    assert [row[:2] for row in local_clusters] == [row[:2] for row in ray_clusters]
    np.testing.assert_allclose(
        [row[2] for row in local_clusters], [row[2] for row in ray_clusters], atol=1e-5
    )
    assert parameters["executor"] == "ray" and "Ray (2 workers)" in metrics["backend"]
    assert metrics["silhouette"] == pytest.approx(local_metrics["silhouette"], abs=0.05)


def test_trained_on_a_sample_every_point_still_finds_its_topic(embedded, monkeypatch):
    monkeypatch.setattr(ray_kmeans, "TRAIN_POINTS_PER_CENTROID", 50)  # 200 of 3,000
    monkeypatch.setattr(ray_kmeans, "MIN_TASK_ROWS", 100)
    root, space = embedded
    messages = []
    with open_workspace(root) as ws:
        step = ClusterStep(n_clusters=4, seed=3, run_id="sampled", executor="ray")
        result = cluster_space(ws, step, space, lambda event: messages.append(event.message))
        members, clusters, _, _ = _run(ws, "sampled")
        topics = dict(
            ws.con.execute(
                "SELECT query_id, split_part(query_text, ' ', 1) FROM queries"
            ).fetchall()
        )
        # The step with the same parameters reuses the Ray run; the local step does not.
        assert cluster_space(ws, step.model_copy(update={"run_id": None}), space).reused
        local_step = ClusterStep(n_clusters=4, seed=3)
        assert not cluster_space(ws, local_step, space).reused
    assert "training on 200 of 3,000 vectors" in messages
    assert result.n_queries == PROMPTS and sum(size for _, size, _ in clusters) == PROMPTS
    # Four clear topics: each cluster is one topic.
    by_cluster: dict[int, set] = {}
    for query_id, cluster_id in zip(members["query_id"], members["cluster_id"], strict=True):
        by_cluster.setdefault(int(cluster_id), set()).add(topics[int(query_id)])
    assert sorted(len(found) for found in by_cluster.values()) == [1, 1, 1, 1]
    assert (members["distance"] >= -1e-6).all() and (members["distance"] < 1).all()


def test_an_interrupted_ray_run_leaves_no_run_and_a_rerun_finishes(embedded, monkeypatch):
    monkeypatch.setattr(ray_kmeans, "MIN_TASK_ROWS", 100)
    root, space = embedded
    step = ClusterStep(n_clusters=5, run_id="stopped", executor="ray")

    def stop_while_labelling(event):
        if event.message.startswith("labelled"):
            raise KeyboardInterrupt

    with open_workspace(root) as ws:
        with pytest.raises(KeyboardInterrupt):
            cluster_space(ws, step, space, stop_while_labelling)
        assert not ws.con.execute(
            "SELECT 1 FROM clustering_runs WHERE run_id = 'stopped'"
        ).fetchall()
        assert cluster_space(ws, step, space).n_clusters == 5


def test_hdbscan_on_ray_is_refused_when_the_job_is_read():
    with pytest.raises(ValueError, match='executor = "ray" runs k-means only'):
        ClusterStep(algorithm="hdbscan", executor="ray")
