"""Embedding throughput on real prompts: lmsys-tui's embed step against plain `encode`,
wall and CPU time (the process's, all threads).

Both embed the same prompts with the bundled model in the same run. lmsys-tui's number
includes everything the step does: reading texts from DuckDB, the vector file, commits.

    python benchmarks/embed.py [--n 2000]
    python benchmarks/embed.py --batching [--n 1000]   # CPU batch shapes, embedder alone
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine, real_prompts, write_prompts

from lmsys_tui.engine.embedding import embedders
from lmsys_tui.engine.embedding.embed import embed_queries, load_space_vectors
from lmsys_tui.engine.embedding.embedders import SentenceTransformerEmbedder, model_path
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.specs import EmbedStep, LoadStep
from lmsys_tui.engine.workspace import open_workspace


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batching", action="store_true", help="compare CPU batch shapes")
    args = parser.parse_args()
    prompts = random.Random(0).sample(real_prompts(), args.n)
    if args.batching:
        compare_batching(prompts)
        return
    folder = Path(tempfile.mkdtemp(prefix="lmsys-bench-"))
    try:
        source = write_prompts(folder / "prompts.jsonl", prompts)
        from sentence_transformers import SentenceTransformer

        embedder = SentenceTransformerEmbedder(device=args.device)
        plain = SentenceTransformer(model_path("all-MiniLM-L6-v2"), device=embedder._load().device)
        plain.encode(prompts[:64])  # warm both up alike
        embedder.embed(prompts[:64])
        started, cpu = time.perf_counter(), time.process_time()
        reference = plain.encode(prompts, normalize_embeddings=True)
        plain_rate = len(prompts) / (time.perf_counter() - started)
        plain_cpu = time.process_time() - cpu

        with open_workspace(folder / "ws") as ws:
            load(ws, LoadStep(source=str(source), text_column="prompt", id_column="id"))
            export_started = []  # the one-off ONNX export for searches ends the step

            def note_export(event) -> None:
                if "exporting the query encoder" in event.message:
                    export_started.append((time.perf_counter(), time.process_time()))

            started, cpu = time.perf_counter(), time.process_time()
            result = embed_queries(
                ws, EmbedStep(device=args.device), embedder=embedder, progress=note_export
            )
            finished, finished_cpu = time.perf_counter(), time.process_time()
            ours_rate = result.embedded / (finished - started)
            ours_cpu = finished_cpu - cpu
            export_s, export_cpu = (
                (finished - export_started[0][0], finished_cpu - export_started[0][1])
                if export_started
                else (0.0, 0.0)
            )
            vectors_rate = result.embedded / (finished - started - export_s)
            vectors_cpu = ours_cpu - export_cpu
            ids, vectors = load_space_vectors(ws, result.space_id)
            texts = dict(ws.con.execute("SELECT query_id, query_text FROM queries").fetchall())
        order = {text: i for i, text in enumerate(prompts)}
        expected = reference[[order[texts[i]] for i in ids]]
        cosine = np.sum(expected * vectors, axis=1)
        print(
            f"# embed on {machine()}; {len(prompts):,} real prompts; device {embedder.device}, "
            f"precision {embedder.precision}"
        )
        print(f"plain encode      {plain_rate:8.1f} prompts/s   CPU {plain_cpu:6.1f} s")
        print(
            f"lmsys-tui embed   {ours_rate:8.1f} prompts/s   CPU {ours_cpu:6.1f} s   "
            f"ratio {ours_rate / plain_rate:.2f} (wall), {plain_cpu / ours_cpu:.2f} (CPU)"
        )
        print(
            f"  without the one-off query-encoder export ({export_s:.1f} s): "
            f"{vectors_rate:.1f} prompts/s, CPU {vectors_cpu:.1f} s, ratio "
            f"{vectors_rate / plain_rate:.2f} (wall), {plain_cpu / vectors_cpu:.2f} (CPU)"
        )
        print(f"vectors vs plain  cosine mean {cosine.mean():.5f}, min {cosine.min():.5f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def compare_batching(prompts: list[str]) -> None:
    """The embedder alone (no DuckDB, no vector file) on CPU with batches of a fixed count
    of texts or of a token budget, against plain `encode` (fp32, batch 32), same process."""
    from sentence_transformers import SentenceTransformer

    plain = SentenceTransformer(model_path("all-MiniLM-L6-v2"), device="cpu")
    plain.encode(prompts[:64])
    started, cpu = time.perf_counter(), time.process_time()
    reference = plain.encode(prompts, normalize_embeddings=True)
    plain_wall, plain_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"# CPU batching on {machine()}; {len(prompts):,} real prompts")
    print(f"plain encode (fp32, batch 32)  wall {plain_wall:6.1f} s  CPU {plain_cpu:6.1f} s")
    variants = [("batch 16", 16, None), ("batch 32", 32, None)]
    variants += [(f"token budget {b}", None, b) for b in (1024, 2048, 4096)]
    default_budget = embedders.CPU_TOKEN_BUDGET
    for name, batch_size, budget in variants:
        embedders.CPU_TOKEN_BUDGET = budget or default_budget
        embedder = SentenceTransformerEmbedder(device="cpu", batch_size=batch_size)
        embedder.embed(prompts[:64])
        started, cpu = time.perf_counter(), time.process_time()
        vectors = embedder.embed(prompts)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        cosine = np.sum(reference * vectors, axis=1)
        print(
            f"{name:30} wall {wall:6.1f} s  CPU {cpu:6.1f} s  vs plain: "
            f"{plain_wall / wall:.2f}x wall, {plain_cpu / cpu:.2f}x CPU; "
            f"cosine min {cosine.min():.5f} ({embedder.precision})"
        )
    embedders.CPU_TOKEN_BUDGET = default_budget


if __name__ == "__main__":
    main()
