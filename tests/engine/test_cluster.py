"""Clustering runs on real embeddings of the fixture: k-means and HDBSCAN."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from lmsys_tui.engine.clustering.algorithms import (
    MAX_CLUSTER_SHARE,
    kmeans,
    kmeans_plusplus_start,
    split_oversized,
)
from lmsys_tui.engine.clustering.runs import cluster_space, sparse_hdbscan_warning
from lmsys_tui.engine.errors import ClusterError
from lmsys_tui.engine.specs import ClusterStep
from lmsys_tui.engine.workspace import open_workspace
from lmsys_tui.job_summary import summary


def members(ws, run_id):
    return ws.con.execute(
        "SELECT q.extra->>'topic', c.cluster_id, c.distance, c.probability "
        "FROM query_clusters c JOIN queries q USING (query_id) WHERE run_id = ?",
        [run_id],
    ).fetchall()


def purity(rows) -> float:
    by_cluster: dict[int, Counter] = {}
    for topic, cluster_id, *_ in rows:
        by_cluster.setdefault(cluster_id, Counter())[topic] += 1
    return sum(c.most_common(1)[0][1] for c in by_cluster.values()) / len(rows)


def test_kmeans_run_finds_the_topics_and_stores_everything(embedded_workspace):
    root, space = embedded_workspace
    with open_workspace(root) as ws:
        result = cluster_space(ws, ClusterStep(n_clusters=3, seed=1, run_id="km3"), space)
        rows = members(ws, "km3")
        run = ws.con.execute(
            "SELECT algorithm, space_id, parameters, n_queries, n_clusters, metrics, status "
            "FROM clustering_runs WHERE run_id = 'km3'"
        ).fetchall()[0]
        clusters = ws.con.execute(
            "SELECT cluster_id, size, len(centroid) FROM clusters WHERE run_id = 'km3' ORDER BY 1"
        ).fetchall()
    assert result.n_clusters == 3 and not result.reused
    assert len(rows) == 30 and purity(rows) >= 0.9
    assert all(0 <= distance < 1 for _, _, distance, _ in rows)
    assert run[:2] == ("kmeans", space) and run[3:5] == (30, 3) and run[6] == "complete"
    assert json.loads(run[2])["n_clusters"] == 3
    metrics = json.loads(run[5])
    assert metrics["silhouette"] > 0.05 and metrics["noise_share"] == 0
    assert sum(size for _, size, _ in clusters) == 30 and {d for *_, d in clusters} == {384}


def test_same_step_reuses_the_finished_run_and_new_seed_makes_a_new_one(embedded_workspace):
    root, space = embedded_workspace
    with open_workspace(root) as ws:
        first = cluster_space(ws, ClusterStep(n_clusters=4, seed=7), space)
        again = cluster_space(ws, ClusterStep(n_clusters=4, seed=7), space)
        other = cluster_space(ws, ClusterStep(n_clusters=4, seed=8), space)
    assert again.reused and again.run_id == first.run_id
    assert not other.reused and other.run_id != first.run_id


def test_kmeans_is_deterministic_under_a_seed(embedded_workspace):
    root, space = embedded_workspace
    with open_workspace(root) as ws:
        from lmsys_tui.engine.embedding.embed import load_space_vectors

        _, vectors = load_space_vectors(ws, space)
    first, _, backend = kmeans(vectors, 3, seed=5, niter=10, device="cpu")
    second, _, _ = kmeans(vectors, 3, seed=5, niter=10, device="cpu")
    assert backend == "faiss-cpu" and np.array_equal(first, second)


def test_hdbscan_run_keeps_noise_as_minus_one(embedded_workspace):
    root, space = embedded_workspace
    step = ClusterStep(algorithm="hdbscan", micro_clusters=15, min_cluster_size=2, run_id="hdb")
    with open_workspace(root) as ws:
        result = cluster_space(ws, step, space)
        rows = members(ws, "hdb")
        sizes = dict(
            ws.con.execute("SELECT cluster_id, size FROM clusters WHERE run_id = 'hdb'").fetchall()
        )
    labels = [cluster_id for _, cluster_id, _, _ in rows]
    assert len(rows) == 30 and result.n_clusters >= 2
    assert all(label >= -1 for label in labels)
    assert sum(sizes.values()) == 30
    assert result.metrics["noise_share"] == pytest.approx(labels.count(-1) / 30, abs=1e-3)
    clustered = [row for row in rows if row[1] >= 0]
    assert purity(clustered) >= 0.8
    assert all(0 <= probability <= 1 for *_, probability in rows)


def test_too_many_clusters_is_a_clear_error(embedded_workspace):
    root, space = embedded_workspace
    with open_workspace(root) as ws, pytest.raises(ClusterError, match="only 30 queries"):
        cluster_space(ws, ClusterStep(n_clusters=100), space)


def test_an_oversized_hdbscan_cluster_is_split_and_noise_stays_noise():
    rng = np.random.default_rng(0)
    centroids = rng.normal(size=(12, 8)).astype(np.float32)
    labels = np.array([0] * 8 + [1, 1] + [-1, -1])  # cluster 0 holds 8 of 12 micro-clusters
    sizes = np.full(12, 10)
    split, count = split_oversized(labels, sizes, centroids, seed=1)
    clustered = split[split >= 0]
    assert count >= 1 and (split[-2:] == -1).all()
    assert np.bincount(clustered).max() * 10 <= MAX_CLUSTER_SHARE * sizes.sum()
    assert set(split[:8]) >= {0} and not set(split[:8]) & {1, -1}  # only cluster 0 split
    one = np.array([0, -1, -1])  # one micro-cluster holding 90 %: the data's own skew
    kept, none = split_oversized(one, np.array([90, 5, 5]), centroids[:3], seed=1)
    assert none == 0 and (kept == one).all()


def test_kmeans_plusplus_seeds_one_point_in_each_separated_blob():
    """Eight tight, far-apart blobs of unit vectors: k-means++ seeds each blob once, from
    the points themselves, the same way under the same seed."""
    rng = np.random.default_rng(3)
    directions = np.linalg.qr(rng.normal(size=(32, 8)))[0].T  # 8 orthogonal unit vectors
    blob = np.repeat(np.arange(8), 200)
    points = directions[blob] + rng.normal(scale=0.02, size=(len(blob), 32))
    points = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    seeds = kmeans_plusplus_start(points, 8, seed=5)
    nearest_blob = np.argmax(seeds @ directions.T, axis=1)
    assert sorted(nearest_blob.tolist()) == list(range(8))
    assert all((np.abs(points - seed).sum(axis=1) < 1e-6).any() for seed in seeds)
    assert np.array_equal(seeds, kmeans_plusplus_start(points, 8, seed=5))


def test_a_mostly_noise_hdbscan_run_says_what_min_cluster_size_counts(embedded_workspace):
    root, space = embedded_workspace
    coarse = ClusterStep(algorithm="hdbscan", micro_clusters=15, min_cluster_size=8, run_id="c")
    fine = ClusterStep(algorithm="hdbscan", micro_clusters=15, min_cluster_size=2, run_id="f")
    with open_workspace(root) as ws:
        sparse = cluster_space(ws, coarse, space)
        dense = cluster_space(ws, fine, space)
    warning = sparse_hdbscan_warning(coarse, sparse)
    assert sparse.metrics["noise_share"] > 0.5, sparse.metrics
    assert warning.startswith(f"hdbscan found {sparse.n_clusters} clusters and left ")
    assert "min_cluster_size = 8 counts micro-clusters (15 here, ~2 queries each)" in warning
    assert sparse_hdbscan_warning(fine, dense) is None, dense.metrics  # 3 topics, 30 queries
    printed = summary({"data_dir": str(root), "cluster": sparse.as_dict(), "warnings": [warning]})
    noise = f"{sparse.metrics['noise_share']:.0%} noise over 30 queries"
    assert f"{sparse.n_clusters} clusters and {noise}" in printed
    assert printed.endswith(f"warning: {warning}")
