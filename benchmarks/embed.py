"""Embedding throughput on real prompts: lmsys-tui's embed step against plain `encode`.

Both embed the same prompts with the bundled model in the same run. lmsys-tui's number
includes everything the step does: reading texts from DuckDB, the vector file, commits.

    python benchmarks/embed.py [--n 2000]
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

from lmsys_tui.engine.embed import embed_queries, load_space_vectors
from lmsys_tui.engine.embedders import SentenceTransformerEmbedder, model_path
from lmsys_tui.engine.ingest import load
from lmsys_tui.engine.specs import EmbedStep, LoadStep
from lmsys_tui.engine.workspace import open_workspace


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    prompts = random.Random(0).sample(real_prompts(), args.n)
    folder = Path(tempfile.mkdtemp(prefix="lmsys-bench-"))
    try:
        source = write_prompts(folder / "prompts.jsonl", prompts)
        from sentence_transformers import SentenceTransformer

        embedder = SentenceTransformerEmbedder(device=args.device)
        plain = SentenceTransformer(model_path("all-MiniLM-L6-v2"), device=embedder._load().device)
        plain.encode(prompts[:64])  # warm both up alike
        embedder.embed(prompts[:64])
        started = time.perf_counter()
        reference = plain.encode(prompts, normalize_embeddings=True)
        plain_rate = len(prompts) / (time.perf_counter() - started)

        with open_workspace(folder / "ws") as ws:
            load(ws, LoadStep(source=str(source), text_column="prompt", id_column="id"))
            started = time.perf_counter()
            result = embed_queries(ws, EmbedStep(device=args.device), embedder=embedder)
            ours_rate = result.embedded / (time.perf_counter() - started)
            ids, vectors = load_space_vectors(ws, result.space_id)
            texts = dict(ws.con.execute("SELECT query_id, query_text FROM queries").fetchall())
        order = {text: i for i, text in enumerate(prompts)}
        expected = reference[[order[texts[i]] for i in ids]]
        cosine = np.sum(expected * vectors, axis=1)
        print(
            f"# embed on {machine()}; {len(prompts):,} real prompts; device {embedder.device}, "
            f"precision {embedder.precision}"
        )
        print(f"plain encode      {plain_rate:8.1f} prompts/s")
        print(f"lmsys-tui embed   {ours_rate:8.1f} prompts/s   ratio {ours_rate / plain_rate:.2f}")
        print(f"vectors vs plain  cosine mean {cosine.mean():.5f}, min {cosine.min():.5f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
