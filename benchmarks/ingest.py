"""Ingest throughput: LMSYS-schema JSONL and Parquet built from real prompts, 10k to 1M rows.

python benchmarks/ingest.py [--rows 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
from _common import machine, real_prompts

from lmsys_tui.engine.ingest import load
from lmsys_tui.engine.specs import LoadStep
from lmsys_tui.engine.workspace import open_workspace


def write_source(path: Path, rows: int, prompts: list[str]) -> None:
    """LMSYS-like rows: the prompt, an assistant reply, a moderation field, a few bad rows."""
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(rows):
            prompt = prompts[i % len(prompts)]
            record = {
                "conversation_id": f"c{i:08d}",
                "model": rng.choice(["vicuna-13b", "gpt-4", "llama-2-13b-chat", "koala-13b"]),
                "conversation": [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": "Sure. " + prompt[::-1][:400]},
                ],
                "turn": 1,
                "language": "English",
                "openai_moderation": [{"flagged": False, "categories": {"harassment": False}}],
                "redacted": False,
            }
            handle.write(json.dumps(record) + "\n")
            if i % 100_000 == 50:
                handle.write("{not json\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    prompts = real_prompts()
    print(f"# ingest on {machine()}; {len(prompts):,} distinct real prompts cycled")
    for rows in args.rows:
        folder = Path(tempfile.mkdtemp(prefix="lmsys-bench-"))
        try:
            jsonl = folder / "chats.jsonl"
            write_source(jsonl, rows, prompts)
            parquet = folder / "chats.parquet"
            duckdb.sql(
                f"COPY (SELECT * FROM read_json('{jsonl}', ignore_errors=true)) TO '{parquet}'"
            )
            for source in (jsonl, parquet):
                with open_workspace(folder / f"ws-{source.suffix[1:]}") as ws:
                    started = time.perf_counter()
                    result = load(ws, LoadStep(source=str(source)))
                    seconds = time.perf_counter() - started
                    rerun_started = time.perf_counter()
                    again = load(ws, LoadStep(source=str(source)))
                    rerun = time.perf_counter() - rerun_started
                size = source.stat().st_size / 2**20
                print(
                    f"{source.suffix[1:]:8} {rows:>9,} rows {size:8.0f} MiB  "
                    f"{seconds:6.2f} s  {result.read / seconds:>9,.0f} rows/s  "
                    f"loaded {result.loaded:,}  rerun {rerun:.2f} s adds {again.loaded}",
                    flush=True,
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
