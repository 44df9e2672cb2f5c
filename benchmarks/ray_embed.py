"""Embedding on a local Ray with 1 and 2 model actors, against the local path, same run.

The same real prompts, the bundled model, a fresh workspace each: the whole embed step
(texts from DuckDB, Parquet shards, actors, commits); Ray's start-up and each actor's
model loading are included, as a user would see them. Vectors are compared with the
local path's (cosine of the stored float16 vectors).

    python benchmarks/ray_embed.py [--n 3000]
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

from lmsys_tui.engine.embedding.embed import embed_queries, load_space_vectors
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.specs import EmbedStep, LoadStep
from lmsys_tui.engine.workspace import open_workspace


def run(folder: Path, source: Path, step: EmbedStep) -> tuple[float, np.ndarray, np.ndarray]:
    with open_workspace(folder) as ws:
        load(ws, LoadStep(source=str(source), text_column="prompt", id_column="id"))
        started = time.perf_counter()
        result = embed_queries(ws, step)
        seconds = time.perf_counter() - started
        ids, vectors = load_space_vectors(ws, result.space_id)
    return seconds, ids, vectors.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    args = parser.parse_args()
    prompts = random.Random(0).sample(real_prompts(), args.n)
    folder = Path(tempfile.mkdtemp(prefix="lmsys-ray-"))
    try:
        source = write_prompts(folder / "prompts.jsonl", prompts)
        print(f"# Ray embedding on {machine()}; {args.n:,} real prompts, bundled model")
        print("| executor | wall | prompts/s | vs local | cosine to local (min) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        local_seconds, local_ids, local_vectors = run(folder / "local", source, EmbedStep())
        print(
            f"| local (one process) | {local_seconds:.1f} s | {args.n / local_seconds:.0f} | "
            "1.00x | - |",
            flush=True,
        )
        for workers in (1, 2):
            seconds, ids, vectors = run(
                folder / f"ray-{workers}",
                source,
                EmbedStep(executor="ray", ray_workers=workers),
            )
            assert np.array_equal(ids, local_ids)
            cosine = np.sum(vectors * local_vectors, axis=1) / (
                np.linalg.norm(vectors, axis=1) * np.linalg.norm(local_vectors, axis=1)
            )
            print(
                f"| Ray, {workers} worker{'s' if workers > 1 else ''} | {seconds:.1f} s | "
                f"{args.n / seconds:.0f} | {local_seconds / seconds:.2f}x | "
                f"{cosine.min():.6f} |",
                flush=True,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
