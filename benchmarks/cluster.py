"""Clustering time: k-means and HDBSCAN on synthetic unit vectors (10k to 1M x 384) and on
real embeddings of the shared prompts. Each k-means is timed beside plain `faiss.Kmeans`
(random start, same iterations) on the same vectors, wall and CPU time.

    python benchmarks/cluster.py [--rows 10000 100000 1000000] [--k 50 200 1000] [--real]
        [--no-hdbscan]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import machine, real_prompts

from lmsys_tui.engine.clustering.algorithms import (
    assign_to_centroids,
    hdbscan_micro,
    kmeans,
    quality_metrics,
)


def synthetic(rows: int, dim: int = 384, topics: int = 500, seed: int = 0) -> np.ndarray:
    """Unit vectors around `topics` random directions, like embeddings of many topics."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, dim)).astype(np.float32)
    labels = rng.integers(0, topics, rows)
    vectors = centres[labels] + rng.normal(scale=0.9, size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def plain_faiss(vectors: np.ndarray, k: int) -> None:
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    model = faiss.Kmeans(x.shape[1], k, niter=20, seed=42, spherical=True)
    model.train(x)
    model.index.search(x, 1)


def timed(call) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def run(name: str, vectors: np.ndarray, k_values: list[int], hdbscan: bool) -> None:
    for k in k_values:
        if k > len(vectors) // 10:
            continue
        base_wall, base_cpu = timed(lambda k=k: plain_faiss(vectors, k))
        wall, cpu = timed(lambda k=k: kmeans(vectors, k, seed=42, niter=20, device="auto"))
        print(
            f"{name:10} {len(vectors):>9,}  kmeans k={k:<5} {wall:7.1f} s (CPU {cpu:.1f} s); "
            f"plain faiss.Kmeans {base_wall:.1f} s (CPU {base_cpu:.1f} s); "
            f"ratio {wall / base_wall:.2f}",
            flush=True,
        )
    if hdbscan:
        started = time.perf_counter()
        found = hdbscan_micro(vectors, 3, 1, None, seed=42, niter=20)
        seconds = time.perf_counter() - started
        *_, distance = assign_to_centroids(vectors, found.labels)
        metrics = quality_metrics(vectors, found.labels, distance, seed=42)
        print(
            f"{name:10} {len(vectors):>9,}  hdbscan       {seconds:7.1f} s  "
            f"{metrics['n_clusters']} clusters, noise {metrics['noise_share']:.0%}, "
            f"micro {found.extra_metrics['micro_clusters']}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--k", type=int, nargs="*", default=[50, 200, 1000])
    parser.add_argument("--real", action="store_true", help="also embed and cluster real prompts")
    parser.add_argument("--no-hdbscan", action="store_true")
    args = parser.parse_args()
    print(f"# cluster on {machine()}")
    if args.real:
        from lmsys_tui.engine.embedding.embedders import SentenceTransformerEmbedder

        prompts = real_prompts()
        vectors = SentenceTransformerEmbedder().embed(prompts)
        run("real", vectors, [50, 200], hdbscan=not args.no_hdbscan)
    for rows in args.rows:
        run("synthetic", synthetic(rows), args.k, hdbscan=not args.no_hdbscan)


if __name__ == "__main__":
    main()
