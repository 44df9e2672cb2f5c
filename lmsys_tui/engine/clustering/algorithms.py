"""Clustering algorithms on unit vectors: spherical k-means (FAISS, or torch on CUDA) and
HDBSCAN over k-means micro-clusters. Pure numpy in, labels out; no workspace here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ClusterError

PLUSPLUS_SAMPLE_PER_CENTROID = 20
REDO_WORK = 20_000_000
MAX_CLUSTER_SHARE = 0.25  # HDBSCAN clusters above this share of points are split
MAX_MICRO_CLUSTERS = 2000


@dataclass
class Labels:
    """Per-point cluster ids (-1 = noise) and membership probabilities."""

    labels: np.ndarray
    probabilities: np.ndarray
    backend: str
    extra_metrics: dict


def faiss_gpu_count() -> int:
    import faiss

    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    return get_num_gpus() if get_num_gpus else 0


def torch_cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def kmeans(
    vectors: np.ndarray,
    k: int,
    seed: int,
    niter: int,
    device: str = "auto",
    plusplus: bool = True,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Spherical k-means from a k-means++ start; returns (labels, unit centroids, backend).

    FAISS's random start merges obvious topics: on labelled prompts it scored NMI
    0.77 / 0.75 where scikit-learn's KMeans (k-means++) scored 0.81 / 0.78; the same FAISS
    training from a k-means++ start matches scikit-learn (docs/benchmarks.md).
    `plusplus=False` keeps FAISS's random start, for micro-clusters that only need to
    cover the space (the start costs ~7.5 ms a centroid on 2 cores).
    """
    n, dim = vectors.shape
    if k > n:
        raise ClusterError(f"n_clusters = {k} but only {n} queries are embedded")
    want_gpu = device in ("auto", "cuda")
    if want_gpu and faiss_gpu_count() > 0:
        return (*_faiss_kmeans(vectors, k, seed, niter, True, plusplus), "faiss-gpu")
    if want_gpu and torch_cuda_available():
        return (*_torch_kmeans(vectors, k, seed, niter), "torch-cuda")
    if device == "cuda":
        raise ClusterError('device = "cuda" but no GPU is visible to faiss or torch')
    return (*_faiss_kmeans(vectors, k, seed, niter, False, plusplus), "faiss-cpu")


def kmeans_plusplus_start(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Greedy k-means++ seeds for unit vectors, drawn from a sample of
    PLUSPLUS_SAMPLE_PER_CENTROID points per centroid (all points on small data).

    The same algorithm as scikit-learn's `kmeans_plusplus` (2 + ln k candidates per
    centre, the one that lowers the potential most is kept), with squared distances taken
    as 2 - 2 x.c from one matrix product per centre: on 20,000 x 384 points and k = 1,000,
    3.0 s against 7.4 s on a quiet machine (6.6 s against 32.6 s on a busy one), seeds as
    good (docs/benchmarks.md).
    """
    rng = np.random.default_rng(seed)
    size = max(k * PLUSPLUS_SAMPLE_PER_CENTROID, 10_000)
    sample = x if len(x) <= size else x[np.sort(rng.choice(len(x), size, replace=False))]
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    m = len(sample)
    trials = 2 + int(np.log(k))
    centres = np.empty((k, sample.shape[1]), dtype=np.float32)
    first = int(rng.integers(m))
    centres[0] = sample[first]
    closest = np.maximum(2.0 - 2.0 * (sample @ sample[first]), 0.0)
    for c in range(1, k):
        cumulative = np.cumsum(closest, dtype=np.float64)
        candidates = np.searchsorted(cumulative, rng.random(trials) * cumulative[-1])
        candidates = np.minimum(candidates, m - 1)
        distances = np.maximum(2.0 - 2.0 * (sample @ sample[candidates].T), 0.0)
        np.minimum(distances, closest[:, None], out=distances)
        best = int(np.argmin(distances.sum(axis=0)))
        closest = distances[:, best].copy()
        centres[c] = sample[candidates[best]]
    return centres


def _faiss_kmeans(vectors, k, seed, niter, gpu, plusplus=True):
    """FAISS training from k-means++ starts; on small data (up to REDO_WORK points x
    clusters) the best of 5 starts, as one start can still merge obvious topics there."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    best = None
    for attempt in range(5 if x.shape[0] * k <= REDO_WORK else 1):
        model = faiss.Kmeans(
            x.shape[1],
            k,
            niter=niter,
            seed=seed + attempt,
            spherical=True,
            gpu=gpu,
            verbose=False,
            min_points_per_centroid=1,  # few points per centroid is intended (micro-clusters)
        )
        start = kmeans_plusplus_start(x, k, seed + attempt) if plusplus else None
        model.train(x, init_centroids=start)
        centroids = unit(model.centroids)
        index = faiss.IndexFlatIP(x.shape[1])
        index.add(centroids)
        similarity, nearest = index.search(x, 1)
        score = float(similarity.sum())
        if best is None or score > best[0]:
            best = (score, nearest[:, 0].astype(np.int32), centroids)
    return best[1], best[2]


def _torch_kmeans(vectors, k, seed, niter, chunk=65536):
    """Lloyd's spherical k-means on CUDA for when faiss has no GPU build."""
    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).cuda().half()
    start = torch.randperm(x.shape[0], generator=generator)[:k].cuda()
    centroids = x[start].float()

    def assign():
        labels = torch.empty(x.shape[0], dtype=torch.long, device="cuda")
        for i in range(0, x.shape[0], chunk):
            labels[i : i + chunk] = (x[i : i + chunk] @ centroids.half().T).argmax(dim=1)
        return labels

    for _ in range(niter):
        labels = assign()
        sums = torch.zeros_like(centroids).index_add_(0, labels, x.float())
        counts = torch.bincount(labels, minlength=k)
        empty = counts == 0
        if empty.any():  # re-seed empty clusters with random points
            refill = torch.randint(0, x.shape[0], (int(empty.sum()),), generator=generator)
            sums[empty] = x[refill.cuda()].float()
        centroids = torch.nn.functional.normalize(sums, dim=1)
    labels = assign()
    return labels.cpu().numpy().astype(np.int32), centroids.cpu().numpy()


def hdbscan_micro(
    vectors: np.ndarray,
    min_cluster_size: int,
    min_samples: int | None,
    micro_clusters: int | None,
    seed: int,
    niter: int,
    device: str = "auto",
    reduced_dims: int = 32,
) -> Labels:
    """HDBSCAN over k-means micro-cluster centroids (PCA-reduced), mapped back to every point.

    Full-dimension HDBSCAN is quadratic (28 s at 10k, 122 s at 20k on 2 cores) and calls
    86-97 % of real prompts noise. On 12.8k real prompts, 641 micro-centroids reduced to
    32 dims give 68 clusters and 34 % noise in 0.1 s after k-means (docs/benchmarks.md).
    """
    n = vectors.shape[0]
    m = micro_clusters or int(np.clip(n // 20, 50, MAX_MICRO_CLUSTERS))
    m = min(m, n)
    if m <= min_cluster_size:
        raise ClusterError(
            f"hdbscan needs more than min_cluster_size = {min_cluster_size} micro-clusters; "
            f"{n} queries give {m}"
        )
    # Micro-clusters need not converge: 10 iterations keep 1M rows within minutes on CPU.
    # k-means++ starts where they are cheap: on small sets they change which clusters
    # HDBSCAN finds (noise 35 % vs 58 % on one labelled set); at 1M x 2,000 they took 41 s
    # of HDBSCAN's 92 s, for micro-clusters that only need to cover the space.
    micro_labels, micro_centroids, backend = kmeans(
        vectors, m, seed, min(niter, 10), device, plusplus=n * m <= REDO_WORK
    )
    import hdbscan
    from sklearn.decomposition import PCA

    dims = min(reduced_dims, m - 1, vectors.shape[1])
    reduced = PCA(dims, random_state=seed).fit_transform(micro_centroids)
    model = hdbscan.HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        core_dist_n_jobs=1,
    )
    micro_cluster_labels = model.fit_predict(reduced.astype(np.float64))
    micro_sizes = np.bincount(micro_labels, minlength=m)
    micro_cluster_labels, splits = split_oversized(
        micro_cluster_labels, micro_sizes, micro_centroids, seed
    )
    labels = micro_cluster_labels[micro_labels].astype(np.int32)
    probabilities = model.probabilities_[micro_labels].astype(np.float32)
    return Labels(
        labels,
        probabilities,
        f"hdbscan over {backend} micro-clusters",
        {"micro_clusters": int(m), "reduced_dims": int(dims), "oversized_splits": splits},
    )


def split_oversized(
    labels: np.ndarray, sizes: np.ndarray, centroids: np.ndarray, seed: int
) -> tuple[np.ndarray, int]:
    """Split any cluster of micro-clusters holding over MAX_CLUSTER_SHARE of the points in
    two (size-weighted k-means of its micro-centroids) until none does or it is one
    micro-cluster; noise (-1) is left alone. Returns the new labels and the splits made.

    HDBSCAN's excess-of-mass selection can keep one broad cluster: 39-75 % of small sets
    of labelled real prompts (docs/benchmarks.md).
    """
    from sklearn.cluster import KMeans

    labels = labels.copy()
    total = sizes.sum()
    splits = 0
    while True:
        clustered = labels >= 0
        if not clustered.any():
            return labels, splits
        mass = np.bincount(labels[clustered], weights=sizes[clustered])
        largest = int(np.argmax(mass))
        members = np.flatnonzero(labels == largest)
        if mass[largest] <= MAX_CLUSTER_SHARE * total or len(members) < 2:
            return labels, splits
        halves = KMeans(2, n_init=3, random_state=seed).fit_predict(
            centroids[members], sample_weight=sizes[members]
        )
        labels[members[halves == 1]] = labels.max() + 1
        splits += 1


def unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def centroids_of(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit mean vector and size of each label, in ascending label order."""
    from scipy.sparse import csr_matrix

    ids, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    membership = csr_matrix(
        (np.ones(len(labels), np.float32), (inverse, np.arange(len(labels)))),
        shape=(len(ids), len(labels)),
    )
    return ids, unit(membership @ vectors), sizes


def assign_to_centroids(vectors: np.ndarray, labels: np.ndarray):
    """Each label's unit centroid and size, and each point's cosine distance to its own."""
    cluster_ids, centroids, sizes = centroids_of(vectors, labels)
    own = centroids[np.searchsorted(cluster_ids, labels)]
    distance = (1.0 - np.einsum("ij,ij->i", vectors, own)).astype(np.float32)
    return cluster_ids, centroids, sizes, distance


def quality_metrics(
    vectors: np.ndarray,
    labels: np.ndarray,
    distance: np.ndarray,
    seed: int,
    sample: int = 5000,
    vector_labels: np.ndarray | None = None,
) -> dict:
    """Silhouette (cosine) on a seeded sample, size spread, noise share, mean distance.

    `vectors` are every point (labelled by `labels`), or a sample of them labelled by
    `vector_labels` when the points are not all in memory (k-means on Ray).
    """
    from sklearn.metrics import silhouette_score

    clustered = labels >= 0
    sizes = np.bincount(labels[clustered]) if clustered.any() else np.zeros(0, int)
    sizes = sizes[sizes > 0]
    metrics = {
        "n_clusters": int(len(sizes)),
        "noise_share": round(float(1 - clustered.mean()), 4),
        "mean_distance": round(float(distance.mean()), 4),
        "size_min": int(sizes.min()) if len(sizes) else 0,
        "size_median": float(np.median(sizes)) if len(sizes) else 0.0,
        "size_max": int(sizes.max()) if len(sizes) else 0,
    }
    if len(sizes) >= 2 and clustered.sum() > len(sizes):
        own = labels if vector_labels is None else vector_labels
        x, y = vectors[own >= 0], own[own >= 0]
        metrics["silhouette"] = round(
            float(
                silhouette_score(
                    x, y, metric="cosine", sample_size=min(sample, len(y)), random_state=seed
                )
            ),
            4,
        )
        metrics["silhouette_sample"] = int(min(sample, len(y)))
    return metrics
