"""Clustering runs: cluster a space's vectors and store the run, its clusters and members.

A run is never overwritten. A job's cluster step reuses a finished run with the same
algorithm, parameters, space and queries instead of computing it again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from ..browse import unknown_run
from ..embedding.embed import load_space_vectors
from ..embedding.vector_chunks import require_intact
from ..enrich.duplicates import find_duplicates
from ..errors import ClusterError
from ..naming.counts import refresh_counts
from ..progress import Progress, ProgressSink, null_sink
from ..specs import ClusterStep
from ..store import transaction, unique_id
from ..workspace import Workspace
from .algorithms import assign_to_centroids, hdbscan_micro, kmeans, quality_metrics


@dataclass
class ClusterResult:
    run_id: str
    algorithm: str
    space_id: str
    n_queries: int
    n_clusters: int
    reused: bool
    seconds: float
    metrics: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _parameters(step: ClusterStep) -> dict:
    keys = ["seed", "niter", "device"]
    keys += (
        ["n_clusters"]
        if step.algorithm == "kmeans"
        else ["min_cluster_size", "min_samples", "micro_clusters"]
    )
    parameters = {key: getattr(step, key) for key in keys}
    if step.executor == "ray":  # trained on a sample: not the local run's result at scale
        parameters["executor"] = "ray"
    subset = subset_of(step)
    if subset:
        parameters["subset"] = subset  # a run over a subset is reused only for the same one
    return parameters


# HDBSCAN results a user would not want to browse as they are: mostly noise, or a few
# clusters of a set large enough to hold many topics.
SPARSE_NOISE_SHARE = 0.5
SPARSE_CLUSTERS = 5
MANY_TOPICS_QUERIES = 1000


def sparse_hdbscan_warning(step: ClusterStep, result: ClusterResult) -> str | None:
    """Why an HDBSCAN run came out mostly noise or nearly one topic, and what to change.

    `min_cluster_size` counts micro-clusters, not queries: a value usual for plain
    HDBSCAN (15) leaves 2 clusters and 58 % noise of 2,178 real prompts, 3 leaves 13.
    """
    metrics = result.metrics
    noise = metrics.get("noise_share", 0.0)
    few = result.n_clusters < SPARSE_CLUSTERS and result.n_queries >= MANY_TOPICS_QUERIES
    if step.algorithm != "hdbscan" or (noise <= SPARSE_NOISE_SHARE and not few):
        return None
    found = (
        f"hdbscan found {result.n_clusters} clusters and left {noise:.0%} of "
        f"{result.n_queries:,} queries as noise"
    )
    micro = metrics.get("micro_clusters")
    if step.min_cluster_size > 2 and micro:
        return (
            f"{found}: min_cluster_size = {step.min_cluster_size} counts micro-clusters "
            f"({micro:,} here, ~{result.n_queries // micro:,} queries each); "
            "a smaller value finds more and smaller clusters"
        )
    return f'{found}: k-means (algorithm = "kmeans") puts every query in a cluster'


def subset_of(step: ClusterStep) -> dict:
    """The step's subset as plain data (empty: every embedded query)."""
    subset: dict = {}
    if step.where:
        subset["where"] = {key: step.where[key] for key in sorted(step.where)}
    if step.within:
        subset["within"] = {
            "run_id": step.within.run_id,
            "clusters": sorted(set(step.within.clusters)),
        }
    if step.source:
        subset["source"] = step.source
    return subset


def describe_subset(subset: dict) -> str:
    """A subset in words, for the run's description: language = Russian; clusters 3, 7 of k."""
    parts = []
    for key, value in subset.get("where", {}).items():
        shown = ", ".join(value) if isinstance(value, list) else value
        parts.append(f"{key} = {shown}")
    if "within" in subset:
        within = subset["within"]
        clusters = ", ".join(map(str, within["clusters"]))
        parts.append(f"clusters {clusters} of {within['run_id']}")
    if "source" in subset:
        parts.append(f"source {subset['source']}")
    return "; ".join(parts)


def subset_query_ids(ws: Workspace, subset: dict) -> np.ndarray:
    """Query ids the subset selects.

    Raises:
        ClusterError: an unknown run, cluster or field, or a subset that selects nothing.
    """
    from ..browse import NotFound
    from ..insight.facets import facet_expression

    conditions, params = [], []
    for key, value in subset.get("where", {}).items():
        try:
            expression = facet_expression(ws.con, key)
        except NotFound as error:
            raise ClusterError(f"cluster.where: {error}") from None
        values = value if isinstance(value, list) else [value]
        conditions.append(f"{expression} IN (SELECT unnest(?::VARCHAR[]))")
        params.append(values)
    if "within" in subset:
        within = subset["within"]
        known = {
            row[0]
            for row in ws.con.execute(
                "SELECT cluster_id FROM clusters WHERE run_id = ?", [within["run_id"]]
            ).fetchall()
        }
        if not known:
            raise ClusterError(f"cluster.within: {unknown_run(ws.con, within['run_id'])}")
        unknown = sorted(set(within["clusters"]) - known)
        if unknown:
            raise ClusterError(
                f"cluster.within: run {within['run_id']} has no cluster {unknown[0]}"
            )
        conditions.append(
            "q.query_id IN (SELECT query_id FROM query_clusters WHERE run_id = ? "
            "AND cluster_id IN (SELECT unnest(?::INTEGER[])))"
        )
        params += [within["run_id"], within["clusters"]]
    if "source" in subset:
        conditions.append("q.source = ?")
        params.append(subset["source"])
    ids = ws.con.execute(
        f"SELECT q.query_id FROM queries q WHERE {' AND '.join(conditions)} ORDER BY 1", params
    ).fetchnumpy()["query_id"]
    if len(ids) == 0:
        raise ClusterError(f"the subset ({describe_subset(subset)}) selects no queries")
    return ids


def _find_reusable(
    ws: Workspace, step: ClusterStep, space_id: str, parameters: dict, n_queries: int
) -> ClusterResult | None:
    rows = ws.con.execute(
        """
        SELECT run_id, n_clusters, metrics FROM clustering_runs
        WHERE status = 'complete' AND algorithm = ? AND space_id = ?
          AND parameters = ?::JSON AND n_queries = ?
        ORDER BY created_at DESC LIMIT 1
        """,
        [step.algorithm, space_id, json.dumps(parameters, sort_keys=True), n_queries],
    ).fetchall()
    if not rows:
        return None
    row = rows[0]
    return ClusterResult(
        row[0], step.algorithm, space_id, n_queries, row[1], True, 0.0, json.loads(row[2])
    )


def _new_run_id(ws: Workspace, step: ClusterStep) -> str:
    if step.run_id:
        if ws.con.execute(
            "SELECT 1 FROM clustering_runs WHERE run_id = ?", [step.run_id]
        ).fetchall():
            raise ClusterError(f"run {step.run_id!r} already exists; runs are never overwritten")
        return step.run_id
    size = step.n_clusters if step.algorithm == "kmeans" else step.min_cluster_size
    base = f"{step.algorithm}-{size}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    return unique_id(ws.con, "clustering_runs", "run_id", base)


def cluster_space(
    ws: Workspace,
    step: ClusterStep,
    space_id: str,
    progress: ProgressSink = null_sink,
    reuse: bool = True,
) -> ClusterResult:
    """Cluster every embedded query of `space_id` into a run (or reuse an identical one).

    Raises:
        ClusterError: nothing is embedded, or the parameters do not fit the data.
    """
    started = time.perf_counter()
    parameters = _parameters(step)
    subset = parameters.get("subset")
    wanted = subset_query_ids(ws, subset) if subset else None
    if wanted is None:
        n_queries = ws.con.execute(
            "SELECT count(*) FROM embeddings WHERE space_id = ?", [space_id]
        ).fetchall()[0][0]
    else:
        n_queries = ws.con.execute(
            "SELECT count(*) FROM embeddings WHERE space_id = ? "
            "AND query_id IN (SELECT unnest(?::BIGINT[]))",
            [space_id, wanted.tolist()],
        ).fetchall()[0][0]
    if n_queries == 0:
        what = f"the subset ({describe_subset(subset)})" if subset else f"space {space_id}"
        raise ClusterError(f"no vectors in {what}: add an [embed] step first")
    if subset and step.algorithm == "kmeans" and step.n_clusters > n_queries:
        raise ClusterError(
            f"n_clusters = {step.n_clusters} but the subset ({describe_subset(subset)}) "
            f"holds only {n_queries:,} embedded queries"
        )
    if reuse and not step.run_id:
        found = _find_reusable(ws, step, space_id, parameters, n_queries)
        if found:
            if "duplicates" not in found.metrics:  # a run made before copies were marked
                found.metrics["duplicates"] = mark_duplicates(ws, found.run_id, space_id, progress)
            return found
    run_id = _new_run_id(ws, step)
    if step.executor == "ray":
        query_ids, found = _kmeans_on_ray(ws, step, space_id, wanted, progress)
        progress(Progress("cluster", 2, 3, "scoring and saving"))
        labels, distance, backend, extra = found.labels, found.distance, found.backend, {}
        cluster_ids, centroids, sizes = found.cluster_ids, found.centroids, found.sizes
        probabilities = np.ones(len(labels), np.float32)
        scores = quality_metrics(
            found.sample, labels, distance, step.seed, vector_labels=found.sample_labels
        )
    else:
        query_ids, vectors, labels, probabilities, extra, backend = _cluster_here(
            ws, step, space_id, wanted, n_queries, progress
        )
        progress(Progress("cluster", 2, 3, "scoring and saving"))
        cluster_ids, centroids, sizes, distance = assign_to_centroids(vectors, labels)
        scores = quality_metrics(vectors, labels, distance, step.seed)
    metrics = {
        **scores,
        **extra,
        "backend": backend,
        "seconds": round(time.perf_counter() - started, 2),
    }
    run_row = [
        run_id,
        step.algorithm,
        space_id,
        json.dumps(parameters, sort_keys=True),
        len(query_ids),
        metrics["n_clusters"],
        step.description or (describe_subset(subset) if subset else None),
        json.dumps(metrics),
    ]
    members = pa.table(
        {
            "query_id": query_ids,
            "cluster_id": labels,
            "distance": distance,
            "probability": probabilities,
        }
    )
    clusters = pa.table(
        {
            "cluster_id": cluster_ids.astype(np.int32),
            "size": sizes.astype(np.int64),
            "centroid": pa.FixedSizeListArray.from_arrays(
                pa.array(centroids.astype(np.float32).ravel()), centroids.shape[1]
            ),
        }
    )
    _save_run(ws, run_row, members, clusters)
    metrics["duplicates"] = mark_duplicates(ws, run_id, space_id, progress)
    progress(Progress("cluster", 3, 3, f"run {run_id}: {metrics['n_clusters']} clusters"))
    return ClusterResult(
        run_id,
        step.algorithm,
        space_id,
        len(query_ids),
        metrics["n_clusters"],
        False,
        time.perf_counter() - started,
        metrics,
    )


def _cluster_here(ws: Workspace, step: ClusterStep, space_id, wanted, n_queries, progress):
    """k-means or HDBSCAN in this process, over every vector held in memory."""
    progress(Progress("cluster", 0, 3, f"reading {n_queries:,} vectors of {space_id}"))
    query_ids, vectors = load_space_vectors(ws, space_id)
    if wanted is not None:
        chosen = np.isin(query_ids, wanted)
        query_ids, vectors = query_ids[chosen], vectors[chosen]
    progress(Progress("cluster", 1, 3, f"{step.algorithm} on {len(query_ids):,} queries"))
    if step.algorithm == "kmeans":
        labels, _, backend = kmeans(vectors, step.n_clusters, step.seed, step.niter, step.device)
        return query_ids, vectors, labels, np.ones(len(labels), np.float32), {}, backend
    found = hdbscan_micro(
        vectors,
        step.min_cluster_size,
        step.min_samples,
        step.micro_clusters,
        step.seed,
        step.niter,
        step.device,
    )
    return query_ids, vectors, found.labels, found.probabilities, found.extra_metrics, found.backend


def _kmeans_on_ray(ws: Workspace, step: ClusterStep, space_id, wanted, progress):
    """k-means with every point labelled on Ray; the vectors stay in their file."""
    from ..executors.ray_kmeans import kmeans_on_ray

    require_intact(ws, space_id)
    mapping = ws.con.execute(
        "SELECT query_id, row_index FROM embeddings WHERE space_id = ? ORDER BY query_id",
        [space_id],
    ).fetchnumpy()
    query_ids, rows = mapping["query_id"], mapping["row_index"]
    if wanted is not None:
        chosen = np.isin(query_ids, wanted)
        query_ids, rows = query_ids[chosen], rows[chosen]
    if step.n_clusters > len(rows):
        raise ClusterError(
            f"n_clusters = {step.n_clusters} but only {len(rows)} queries are embedded"
        )
    progress(Progress("cluster", 0, 3, f"k-means on Ray over {len(rows):,} vectors of {space_id}"))
    return query_ids, kmeans_on_ray(step, ws.vector_file(space_id).path, rows, progress)


def mark_duplicates(
    ws: Workspace, run_id: str, space_id: str, progress: ProgressSink, new_ids=None
) -> dict:
    """Find the run's copies (near copies among `new_ids` only, when given: see
    find_duplicates), record their counts in the run's metrics, and write the counts the
    offline descriptions give again (sizes, shares and unique counts may all have moved)."""
    counts = find_duplicates(ws, run_id, space_id, progress, new_ids)
    ws.con.execute(
        "UPDATE clustering_runs SET metrics = json_merge_patch(metrics, ?::JSON) WHERE run_id = ?",
        [json.dumps({"duplicates": counts}), run_id],
    )
    refresh_counts(ws, run_id)
    return counts


def _save_run(ws: Workspace, run_row: list, members: pa.Table, clusters: pa.Table) -> None:
    """Write the run, its members and clusters in one transaction: all or nothing."""
    con = ws.con
    run_id = run_row[0]
    con.register("new_members", members)
    con.register("new_clusters", clusters)
    try:
        with transaction(con):
            con.execute(
                """
                INSERT INTO clustering_runs VALUES (?, ?, ?, ?::JSON, ?, ?, ?, ?::JSON,
                    'complete', now()::TIMESTAMP, now()::TIMESTAMP, NULL)
                """,
                run_row,
            )
            con.execute(
                "INSERT INTO query_clusters SELECT ?, query_id, cluster_id, distance, "
                "probability FROM new_members",
                [run_id],
            )
            con.execute(
                "INSERT INTO clusters SELECT ?, cluster_id, size, centroid::FLOAT[] "
                "FROM new_clusters",
                [run_id],
            )
    finally:
        con.unregister("new_members")
        con.unregister("new_clusters")
