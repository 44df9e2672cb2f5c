"""Compare, facet lift and assign at scale, each beside a plain baseline in the same run.

    python benchmarks/insight.py [--rows 1000000] [--clusters 1000] [--new 100000]

A synthetic workspace (no model needed): ROWS queries with LMSYS-like model and language
mixes, two runs of CLUSTERS clusters that mostly agree (run B moves a third of each
cluster's queries to a neighbour), centroids, member distances and vectors for run A,
and NEW queries with vectors near random centroids loaded after run A, to assign into it
(their copies are then marked: exact ones run-wide, near ones against their clusters).

Baselines: scikit-learn's ARI + NMI on the label arrays (compare); a bare DuckDB GROUP BY
of (cluster, model) (facets); FAISS IndexFlatIP nearest centroid (assign).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from _common import machine

from lmsys_tui.engine.clustering.assign import assign_new_queries
from lmsys_tui.engine.insight.compare import compare_runs
from lmsys_tui.engine.insight.facets import facet_lift
from lmsys_tui.engine.specs import AssignStep
from lmsys_tui.engine.workspace import open_workspace

MODELS = ["vicuna-13b", "koala-13b", "alpaca-13b", "chatglm-6b", "llama-13b", "gpt-4"]
LANGUAGES = ["English", "Portuguese", "Russian", "Chinese", "Spanish", "German", "French"]


def timed(function):
    cpu = time.process_time()
    wall = time.perf_counter()
    value = function()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def build(root: Path, rows: int, clusters: int, new: int, dim: int = 384) -> None:
    rng = np.random.default_rng(0)
    models = "['" + "','".join(MODELS) + "']"
    languages = "['" + "','".join(LANGUAGES) + "']"
    with open_workspace(root) as ws:
        con = ws.con
        con.execute(
            f"""
            INSERT INTO queries
            SELECT i, 'c' || i, 'bench',
                {models}[1 + (hash(i) % {len(MODELS)})::INT],
                {languages}[1 + ((hash(i * 7) % 100)::INT // 15) % {len(LANGUAGES)}],
                'prompt ' || i, 1, NULL, now()::TIMESTAMP
            FROM range({rows + new}) t(i)
            """
        )
        con.execute(
            "INSERT INTO embedding_spaces VALUES ('st-bench', 'sentence-transformers', "
            f"'bench', {dim}, true, 0, now()::TIMESTAMP)"
        )
        centroids = rng.normal(size=(clusters, dim)).astype(np.float32)
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        labels_a = rng.integers(0, clusters, rows)
        labels_b = np.where(rng.random(rows) < 0.33, (labels_a + 1) % clusters, labels_a)
        for run_id, labels in (("A", labels_a), ("B", labels_b)):
            con.execute(
                "INSERT INTO clustering_runs VALUES (?, 'kmeans', 'st-bench', '{}'::JSON, ?, ?, "
                "NULL, '{}'::JSON, 'complete', now()::TIMESTAMP, now()::TIMESTAMP, NULL)",
                [run_id, rows, clusters],
            )
            members = pa.table(
                {
                    "query_id": np.arange(rows, dtype=np.int64),
                    "cluster_id": labels.astype(np.int32),
                    "distance": rng.uniform(0.2, 0.8, rows).astype(np.float32),
                }
            )
            con.register("members", members)
            con.execute(
                "INSERT INTO query_clusters SELECT ?, query_id, cluster_id, distance, NULL "
                "FROM members",
                [run_id],
            )
            con.unregister("members")
            sizes = np.bincount(labels, minlength=clusters)
            table = pa.table(
                {
                    "cluster_id": np.arange(clusters, dtype=np.int32),
                    "size": sizes.astype(np.int64),
                    "centroid": pa.FixedSizeListArray.from_arrays(pa.array(centroids.ravel()), dim),
                }
            )
            con.register("new_clusters", table)
            con.execute(
                "INSERT INTO clusters SELECT ?, cluster_id, size, centroid::FLOAT[] "
                "FROM new_clusters",
                [run_id],
            )
            con.unregister("new_clusters")
        # Run A's members near their centroids, then the new queries near random ones.
        near = np.concatenate([labels_a, rng.integers(0, clusters, new)])
        for start in range(0, rows + new, 100_000):
            part = near[start : start + 100_000]
            vectors = centroids[part] + rng.normal(scale=0.05, size=(len(part), dim)).astype(
                np.float32
            )
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            ws.vector_file("st-bench").append(vectors.astype(np.float16))
        mapping = pa.table(
            {
                "query_id": np.arange(rows + new, dtype=np.int64),
                "row_index": np.arange(rows + new, dtype=np.int64),
            }
        )
        con.register("mapping", mapping)
        con.execute("INSERT INTO embeddings SELECT 'st-bench', query_id, row_index FROM mapping")
        con.execute(f"UPDATE embedding_spaces SET n_vectors = {rows + new}")
        con.unregister("mapping")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--new", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "ws"
        _, wall, _ = timed(lambda: build(root, args.rows, args.clusters, args.new))
        print(f"# insight on {machine()}: {args.rows:,} queries, {args.clusters:,} clusters")
        print(f"built the workspace in {wall:.1f} s")
        with open_workspace(root) as ws:
            con = ws.con
            result, wall, cpu = timed(lambda: compare_runs(con, "A", "B"))
            labels = con.execute(
                "SELECT a.cluster_id, b.cluster_id FROM query_clusters a JOIN query_clusters b "
                "USING (query_id) WHERE a.run_id = 'A' AND b.run_id = 'B'"
            ).fetchnumpy()

            def plain_compare():
                from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

                a, b = labels["cluster_id"], labels["cluster_id_1"]
                return adjusted_rand_score(a, b), normalized_mutual_info_score(a, b)

            (ari, nmi), base_wall, base_cpu = timed(plain_compare)
            print(
                f"compare A vs B: {wall:.2f} s wall, {cpu:.2f} s CPU (ARI {result.ari}, NMI "
                f"{result.nmi}, {len(result.matches)} matches, {len(result.splits)} splits); "
                f"scikit-learn ARI+NMI alone on the fetched labels: {base_wall:.2f} s wall, "
                f"{base_cpu:.2f} s CPU (ARI {ari:.4f}, NMI {nmi:.4f})"
            )
            lifts, wall, cpu = timed(lambda: facet_lift(con, "A", "model"))
            _, base_wall, base_cpu = timed(
                lambda: con.execute(
                    "SELECT c.cluster_id, q.model, count(*) FROM query_clusters c JOIN queries q "
                    "USING (query_id) WHERE c.run_id = 'A' GROUP BY ALL"
                ).fetchall()
            )
            print(
                f"facet lift by model, every cluster: {wall:.2f} s wall, {cpu:.2f} s CPU "
                f"({len(lifts):,} pairs); bare DuckDB GROUP BY: {base_wall:.2f} s wall, "
                f"{base_cpu:.2f} s CPU"
            )
            added, wall, cpu = timed(lambda: assign_new_queries(ws, AssignStep(), "A"))
            new_rows = ws.vector_file("st-bench").array()[-args.new :]
            vectors = np.asarray(new_rows, dtype=np.float32)
            centroids = np.array(
                [
                    r[0]
                    for r in con.execute(
                        "SELECT centroid FROM clusters WHERE run_id = 'A' AND cluster_id >= 0 "
                        "ORDER BY cluster_id"
                    ).fetchall()
                ],
                dtype=np.float32,
            )

            def plain_assign():
                import faiss

                index = faiss.IndexFlatIP(centroids.shape[1])
                index.add(centroids)
                return index.search(vectors, 1)

            _, base_wall, base_cpu = timed(plain_assign)
            print(
                f"assign {args.new:,} new queries to {args.clusters:,} clusters: {wall:.2f} s "
                f"wall, {cpu:.2f} s CPU ({added.assigned:,} assigned, {added.novel:,} novel; "
                f"copies marked again in {added.copies['seconds']:.2f} s); "
                f"FAISS IndexFlatIP nearest centroid alone: {base_wall:.2f} s wall, "
                f"{base_cpu:.2f} s CPU"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
