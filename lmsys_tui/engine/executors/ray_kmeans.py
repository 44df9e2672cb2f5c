"""k-means on Ray: train on a sample here (FAISS), label every vector in Ray tasks.

Training needs only a sample: FAISS itself trains on at most 256 points a centroid, so
the driver reads that many rows of the vector file, never the whole file. Labelling every
point is the part that grows with the data: tasks read row ranges of the vector file
(on storage every node mounts at the same path, as the embed executor's shards) and
return each point's cluster with per-cluster sums, so the driver holds only labels,
distances and k centroids. A second pass gives each point its distance to its cluster's
mean, as the local path stores it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ClusterError
from ..progress import Progress, ProgressSink
from .ray_session import connect, first_line, ray_workers

TRAIN_POINTS_PER_CENTROID = 256  # FAISS's max_points_per_centroid: it samples that many
TASK_ROWS = 100_000  # vectors a task reads at most (float16 file: 77 MB at 384 dims)
MIN_TASK_ROWS = 1_000


@dataclass
class RayKMeans:
    """Every point's label and cosine distance to its cluster's unit mean; the clusters'
    ids, unit means and sizes; the training sample with its labels (for the silhouette)."""

    labels: np.ndarray
    distance: np.ndarray
    cluster_ids: np.ndarray
    centroids: np.ndarray
    sizes: np.ndarray
    sample: np.ndarray
    sample_labels: np.ndarray
    backend: str


def _read_rows(path: str, rows: np.ndarray) -> np.ndarray:
    matrix = np.load(path, mmap_mode="r")
    return np.asarray(matrix[rows], dtype=np.float32)


def _label_rows(path: str, rows: np.ndarray, centroids: np.ndarray):
    """A task: nearest centroid of each row, and the sum and count of rows per centroid."""
    import faiss
    from scipy.sparse import csr_matrix

    x = _read_rows(path, rows)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(centroids)
    _, nearest = index.search(x, 1)
    labels = nearest[:, 0].astype(np.int32)
    k = len(centroids)
    membership = csr_matrix(
        (np.ones(len(rows), np.float64), (labels, np.arange(len(rows)))), shape=(k, len(rows))
    )
    return labels, membership @ x.astype(np.float64), np.bincount(labels, minlength=k)


def _distances(path: str, rows: np.ndarray, labels: np.ndarray, centroids: np.ndarray):
    """A task: each row's cosine distance to its own cluster's unit mean."""
    x = _read_rows(path, rows)
    return (1.0 - np.einsum("ij,ij->i", x, centroids[labels])).astype(np.float32)


def kmeans_on_ray(step, vector_path: Path, rows: np.ndarray, progress: ProgressSink) -> RayKMeans:
    """Spherical k-means of the vector file's `rows` (one point each, in that order).

    Raises:
        ClusterError: Ray is missing, cannot be reached, or a task failed.
    """
    from ..clustering.algorithms import kmeans, unit

    n, k = len(rows), step.n_clusters
    started_here = finished = False
    pending: list = []
    try:
        started_here = connect(step.ray_address, step.ray_workers, ClusterError)
        import ray

        workers = ray_workers(step.ray_workers)
        rng = np.random.default_rng(step.seed)
        size = min(n, k * TRAIN_POINTS_PER_CENTROID)
        chosen = np.arange(n) if size == n else np.sort(rng.choice(n, size, replace=False))
        progress(Progress("cluster", 1, 3, f"training on {size:,} of {n:,} vectors"))
        sample = _read_rows(str(vector_path), rows[chosen])
        _, trained, backend = kmeans(sample, k, step.seed, step.niter, step.device)

        tasks = max(1, min(-(-n // MIN_TASK_ROWS), max(4 * workers, -(-n // TASK_ROWS))))
        parts = np.array_split(np.arange(n), tasks)
        path = str(vector_path)
        label_task = ray.remote(num_cpus=1)(_label_rows)
        centroids_ref = ray.put(np.ascontiguousarray(trained, dtype=np.float32))
        pending = [label_task.remote(path, rows[part], centroids_ref) for part in parts]
        labels = np.empty(n, dtype=np.int32)
        sums = np.zeros(trained.shape, dtype=np.float64)
        counts = np.zeros(k, dtype=np.int64)
        done = 0
        for index, (part_labels, part_sums, part_counts) in _as_finished(ray, pending):
            labels[parts[index]] = part_labels
            sums += part_sums
            counts += part_counts
            done += len(part_labels)
            progress(Progress("cluster", 1, 3, f"labelled {done:,} of {n:,} on Ray"))

        cluster_ids = np.flatnonzero(counts).astype(np.int32)
        means = np.zeros_like(trained)
        means[cluster_ids] = unit(sums[cluster_ids])
        distance_task = ray.remote(num_cpus=1)(_distances)
        means_ref = ray.put(means)
        pending = [
            distance_task.remote(path, rows[part], labels[part], means_ref) for part in parts
        ]
        distance = np.empty(n, dtype=np.float32)
        for index, part_distance in _as_finished(ray, pending):
            distance[parts[index]] = part_distance
        finished = True
        return RayKMeans(
            labels,
            distance,
            cluster_ids,
            means[cluster_ids],
            counts[cluster_ids],
            sample,
            labels[chosen],
            f"{backend} (trained here), Ray ({workers} workers)",
        )
    except Exception as error:
        if isinstance(error, ClusterError):
            raise
        raise ClusterError(f"k-means on Ray failed: {first_line(error)}") from None
    finally:
        if not finished:
            _cancel(pending)
        if started_here:
            import ray

            ray.shutdown()


def _as_finished(ray, refs: list):
    """(task index, result) as each task finishes, so progress moves while they run."""
    where = {ref: index for index, ref in enumerate(refs)}
    waiting = list(refs)
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=1)
        yield where[ready[0]], ray.get(ready[0])


def _cancel(refs: list) -> None:
    if not refs:
        return
    import ray

    for ref in refs:
        with contextlib.suppress(Exception):  # finished already, or Ray is gone
            ray.cancel(ref)
