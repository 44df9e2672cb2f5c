"""Search at 100k and 1M queries: index build, file size, open time, latency, recall@10.

Vectors: real embeddings (bundled model) of the shared prompts, cached in
benchmarks/out/real_vectors.npy, and N vectors made from them: each is a mix of two real
prompt vectors plus noise, normalised, so the set keeps the shape of real embeddings at
any size. Queries are real prompt texts; languages and models follow a skewed mix like
LMSYS-Chat-1M's; clusters come from k-means (k = N / 1000).

    python benchmarks/search.py [--rows 100000 1000000] [--searches 200]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from _common import machine, real_prompts

from lmsys_tui.engine.clustering.algorithms import kmeans
from lmsys_tui.engine.enrich.duplicates import find_duplicates
from lmsys_tui.engine.retrieval.index import (
    EXPANSION_SEARCH,
    _restore,
    open_query_index,
    query_index_path,
    update_query_index,
)
from lmsys_tui.engine.retrieval.keyword_index import update_keyword_index
from lmsys_tui.engine.retrieval.search import Searcher, SearchFilters
from lmsys_tui.engine.store import transaction
from lmsys_tui.engine.workspace import open_workspace

OUT = Path(__file__).parent / "out"
LANGUAGES = (
    ["English"] * 78
    + ["Portuguese"] * 5
    + ["Russian"] * 4
    + ["Chinese"] * 4
    + ["Spanish", "German", "French", "Japanese", "Korean", "Italian", "Polish", "unknown", "Dutch"]
)
MODELS = (
    ["vicuna-13b"] * 40
    + ["koala-13b"] * 10
    + ["alpaca-13b"] * 8
    + ["chatglm-6b"] * 7
    + ["gpt-3.5-turbo"] * 6
    + ["claude-v1"] * 5
    + ["gpt-4"] * 4
    + ["llama-2-13b-chat"] * 20
)


def real_vectors(prompts: list[str]) -> np.ndarray:
    cache = OUT / "real_vectors.npy"
    if cache.exists():
        return np.load(cache)
    from lmsys_tui.engine.embedding.embedders import SentenceTransformerEmbedder

    started = time.perf_counter()
    vectors = SentenceTransformerEmbedder().embed(prompts)
    print(f"embedded {len(prompts):,} real prompts in {time.perf_counter() - started:.0f} s")
    OUT.mkdir(exist_ok=True)
    np.save(cache, vectors)
    return vectors


def synthetic(base: np.ndarray, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`rows` unit vectors mixing two real vectors plus noise; and the first one's index."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(base), rows)
    out = np.empty((rows, base.shape[1]), dtype=np.float16)
    for start in range(0, rows, 100_000):
        stop = min(start + 100_000, rows)
        second = rng.integers(0, len(base), stop - start)
        mixed = base[first[start:stop]] + rng.uniform(0.2, 0.7, (stop - start, 1)) * base[second]
        mixed += rng.normal(scale=0.03, size=mixed.shape)
        out[start:stop] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    return out, first


def build_workspace(root: Path, prompts, vectors: np.ndarray, first: np.ndarray) -> None:
    rows = len(vectors)
    rng = random.Random(0)
    with open_workspace(root) as ws:
        table = pa.table(
            {
                "query_id": np.arange(1, rows + 1, dtype=np.int64),
                "text": [f"{prompts[i]}" for i in first.tolist()],
                "language": [rng.choice(LANGUAGES) for _ in range(rows)],
                "model": [rng.choice(MODELS) for _ in range(rows)],
            }
        )
        ws.con.register("bench_rows", table)
        started = time.perf_counter()
        with transaction(ws.con):
            ws.con.execute(
                "INSERT INTO queries SELECT query_id, 'c' || query_id, 'bench', model, "
                "nullif(language, 'unknown'), text, 1, NULL, now()::TIMESTAMP FROM bench_rows"
            )
            ws.con.execute(
                "INSERT INTO embedding_spaces VALUES ('st-all-minilm-l6-v2', "
                "'sentence-transformers', 'all-MiniLM-L6-v2', 384, true, 0, now()::TIMESTAMP)"
            )
        vector_file = ws.vector_file("st-all-minilm-l6-v2")
        vector_file.append(vectors)
        with transaction(ws.con):
            ws.con.execute(
                "INSERT INTO embeddings SELECT 'st-all-minilm-l6-v2', query_id, query_id - 1 "
                "FROM bench_rows"
            )
            ws.con.execute("UPDATE embedding_spaces SET n_vectors = ?", [rows])
        labels, _, _ = kmeans(
            np.asarray(vectors, np.float32), max(rows // 1000, 10), seed=0, niter=10
        )
        members = pa.table({"query_id": np.arange(1, rows + 1), "cluster_id": labels})
        ws.con.register("bench_members", members)
        with transaction(ws.con):
            ws.con.execute(
                "INSERT INTO clustering_runs VALUES ('bench', 'kmeans', 'st-all-minilm-l6-v2', "
                "'{}', ?, ?, NULL, NULL, 'complete', now()::TIMESTAMP, now()::TIMESTAMP, NULL)",
                [rows, int(labels.max()) + 1],
            )
            ws.con.execute(
                "INSERT INTO query_clusters SELECT 'bench', query_id, cluster_id, 0, NULL "
                "FROM bench_members"
            )
            ws.con.execute(
                "INSERT INTO clusters SELECT 'bench', cluster_id, count(*), NULL "
                "FROM bench_members GROUP BY cluster_id"
            )
        print(f"  workspace rows and clusters: {time.perf_counter() - started:.1f} s")


class FixedEmbedder:
    """Hands out pre-computed vectors, to time a search without the model."""

    provider, model = "sentence-transformers", "all-MiniLM-L6-v2"

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.vectors[text] for text in texts])


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):6.1f} ms  p99 {p99:6.1f} ms"


def bench(
    rows: int, prompts, base: np.ndarray, searches: int, keep: Path | None, rebuild: bool
) -> None:
    print(f"\n## {rows:,} vectors", flush=True)
    vectors, first = synthetic(base, rows, seed=rows)
    folder = keep / str(rows) if keep else Path(tempfile.mkdtemp(prefix="lmsys-search-", dir=OUT))
    try:
        if not (folder / "ws" / "lmsys.duckdb").exists():
            build_workspace(folder / "ws", prompts, vectors, first)
        with open_workspace(folder / "ws") as ws:
            space = "st-all-minilm-l6-v2"
            if not ws.con.execute("SELECT count(*) FROM duplicates").fetchall()[0][0]:
                started = time.perf_counter()  # as the cluster step does: search folds them
                copies = find_duplicates(ws, "bench", space)
                print(
                    f"  copies marked: {copies['exact']:,} exact, {copies['near']:,} near "
                    f"({time.perf_counter() - started:.1f} s)",
                    flush=True,
                )
            started = time.perf_counter()
            keywords = update_keyword_index(ws)
            print(
                f"  keyword index build: {time.perf_counter() - started:.1f} s "
                f"({keywords.indexed:,} queries added)",
                flush=True,
            )
            started = time.perf_counter()
            update = update_query_index(ws, space, rebuild=rebuild)
            build = time.perf_counter() - started
            if not update.added:
                build = float("nan")  # kept from an earlier run: not rebuilt
            path = query_index_path(ws, space)
            print(
                f"  usearch build: {build:.1f} s, file {path.stat().st_size / 2**20:.0f} MiB",
                flush=True,
            )
            opens = []
            for _ in range(5):
                started = time.perf_counter()
                _restore(path, view=True)
                opens.append(time.perf_counter() - started)
            checked = []
            for _ in range(5):
                started = time.perf_counter()
                open_query_index(ws, space)
                checked.append(time.perf_counter() - started)
            print(
                f"  open (view): {min(opens) * 1000:.1f} ms; with the DuckDB check "
                f"{min(checked) * 1000:.1f} ms"
            )

            rng = np.random.default_rng(1)
            picks = rng.choice(len(prompts), searches, replace=False)
            texts = [prompts[i][:200] for i in picks]
            noisy = base[picks] + rng.normal(scale=0.03, size=(searches, base.shape[1]))
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            fixed = FixedEmbedder(dict(zip(texts, noisy.astype(np.float32), strict=False)))

            started = time.perf_counter()
            searcher = Searcher(ws, run_id="bench", embedder=fixed)
            print(
                f"  searcher start-up (per-query arrays): "
                f"{(time.perf_counter() - started) * 1000:.0f} ms"
            )
            index = searcher.index

            exact = np.asarray(vectors, np.float32)
            recall = []
            for vector in noisy.astype(np.float32):
                truth = set(np.argpartition(-(exact @ vector), 10)[:10].tolist())
                found = set(index.search(vector, 10).keys.tolist())
                recall.append(len(truth & found) / 10)
            print(
                f"  recall@10 vs exact: {np.mean(recall):.3f} "
                f"(expansion_search {EXPANSION_SEARCH})",
                flush=True,
            )

            cluster = int(searcher.clusters[0])
            scenarios = {
                "semantic, no filter": ("semantic", SearchFilters()),
                "semantic, language=English": ("semantic", SearchFilters(language="English")),
                "semantic, model=vicuna (40 %)": ("semantic", SearchFilters(model="vicuna-13b")),
                "semantic, model=llama (20 %)": (
                    "semantic",
                    SearchFilters(model="llama-2-13b-chat"),
                ),
                "semantic, model=gpt-4 (4 %)": ("semantic", SearchFilters(model="gpt-4")),
                "semantic, one cluster": ("semantic", SearchFilters(cluster_ids=(cluster,))),
                "keyword, no filter": ("keyword", SearchFilters()),
                "keyword, language=English": ("keyword", SearchFilters(language="English")),
                "keyword, model=gpt-4 (4 %)": ("keyword", SearchFilters(model="gpt-4")),
                "keyword, one cluster": ("keyword", SearchFilters(cluster_ids=(cluster,))),
                "hybrid, no filter": ("hybrid", SearchFilters()),
            }
            for mode in ("semantic", "keyword", "hybrid"):  # one-time imports and caches
                searcher.search_queries(texts[0], mode=mode)
            for name, (mode, filters) in scenarios.items():
                times, candidates = [], []
                for text in texts[: searches if mode == "semantic" else searches // 2]:
                    started = time.perf_counter()
                    result = searcher.search_queries(text, mode=mode, n=20, filters=filters)
                    times.append(time.perf_counter() - started)
                    candidates.append(result.candidates)
                print(
                    f"  {name:30} {percentiles(times)}  (n=20, facets over "
                    f"{int(np.median(candidates)):,} candidates)",
                    flush=True,
                )
            times = []
            for query_id in rng.integers(1, rows, 50).tolist():
                started = time.perf_counter()
                searcher.similar(int(query_id), n=10)
                times.append(time.perf_counter() - started)
            print(f"  {'similar queries':30} {percentiles(times)}")
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="build workspaces here and reuse them")
    parser.add_argument("--rebuild", action="store_true", help="rebuild kept indexes")
    args = parser.parse_args()
    print(f"# search on {machine()}")
    prompts = real_prompts()
    base = real_vectors(prompts)
    for rows in args.rows:
        bench(rows, prompts, base, args.searches, args.keep, args.rebuild)
    from lmsys_tui.engine.embedding.embedders import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm up"])
    times = []
    for text in random.Random(2).sample(prompts, 50):
        started = time.perf_counter()
        embedder.embed([text[:200]])
        times.append(time.perf_counter() - started)
    print(f"\nembedding one search text (bundled model, CPU): {percentiles(times)}")


if __name__ == "__main__":
    main()
