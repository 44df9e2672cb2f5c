"""k-means on a local Ray (1 and 2 task workers) against the local path and plain FAISS,
same vectors, same run, each in a fresh process (wall, the process's CPU, its peak RSS).

The vectors are synthetic unit vectors around 500 topics (benchmarks/cluster.py), written
as a float16 vector file like the embed step's. "local" is what the cluster step does
in-process: read every vector, FAISS k-means from k-means++ starts, each point's distance
to its cluster mean. "ray" trains on a sample here and labels every point in Ray tasks
(Ray's start-up included). Plain FAISS: `faiss.Kmeans` (random start) on the same vectors.

    python benchmarks/ray_kmeans.py [--rows 1000000] [--k 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine, peak_rss_mib
from cluster import synthetic


def run_one(kind: str, path: Path, k: int) -> dict:
    from lmsys_tui.engine.clustering.algorithms import assign_to_centroids, kmeans

    wall, cpu = time.perf_counter(), time.process_time()
    if kind == "faiss":
        import faiss

        x = np.load(path).astype(np.float32)
        model = faiss.Kmeans(x.shape[1], k, niter=20, seed=42, spherical=True)
        model.train(x)
        labels = model.index.search(x, 1)[1][:, 0]
    elif kind == "local":
        x = np.load(path).astype(np.float32)
        labels, _, _ = kmeans(x, k, seed=42, niter=20, device="cpu")
        assign_to_centroids(x, labels)
    else:
        from lmsys_tui.engine.executors.ray_kmeans import kmeans_on_ray
        from lmsys_tui.engine.specs import ClusterStep

        workers = int(kind.removeprefix("ray"))
        step = ClusterStep(n_clusters=k, executor="ray", ray_workers=workers, device="cpu")
        rows = np.arange(np.load(path, mmap_mode="r").shape[0])
        labels = kmeans_on_ray(step, path, rows, lambda event: None).labels
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    np.save(path.with_name(f"labels-{kind}.npy"), labels)
    return {
        "wall": seconds,
        "cpu": cpu_seconds,
        "rss_mb": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, Path(args.path), args.k)))
        return
    from sklearn.metrics import normalized_mutual_info_score

    print(machine())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vectors.npy"
        rng = np.random.default_rng(0)
        rng.normal(size=(500, 384))  # the draws synthetic() makes: centres, then topics
        truth = rng.integers(0, 500, args.rows)
        np.save(path, synthetic(args.rows).astype("<f2"))
        print(f"{args.rows:,} x 384 float16 vectors, k = {args.k}")
        results = {}
        for kind in ("faiss", "local", "ray1", "ray2"):
            command = [sys.executable, __file__, "--one", kind, "--path", str(path)]
            answer = subprocess.run(
                [*command, "--k", str(args.k)], capture_output=True, text=True, check=True
            )
            results[kind] = json.loads(answer.stdout.strip().splitlines()[-1])
        local_labels = np.load(path.with_name("labels-local.npy"))
        base = results["faiss"]["wall"]
        print(
            "| run | wall | CPU (driver) | peak RSS (driver) | vs plain FAISS | NMI vs topics "
            "| NMI vs local |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for kind, found in results.items():
            labels = np.load(path.with_name(f"labels-{kind}.npy"))
            print(
                f"| {kind} | {found['wall']:.1f} s | {found['cpu']:.1f} s | "
                f"{found['rss_mb']:,.0f} MB | {found['wall'] / base:.2f}x | "
                f"{normalized_mutual_info_score(truth, labels):.3f} | "
                f"{normalized_mutual_info_score(local_labels, labels):.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
