"""Ingest: the whole load job (keyword index included) against raw DuckDB, same file.

LMSYS-schema JSONL and Parquet built from real prompts, 10k to 1M rows. Each measurement
runs in a fresh process, so its peak RSS is its own; wall and CPU time are both reported.
The baseline is what any DuckDB user would write: `read_json`/`read_parquet`, the first
user turn, a table with a primary key.

python benchmarks/ingest.py [--rows 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, peak_rss_mib, real_prompts


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


def baseline(source: Path, database: Path) -> dict:
    """Raw DuckDB: read the file, keep the first user turn, store it under a primary key."""
    import duckdb  # timed, as the job's imports are

    reader = (
        "read_parquet(?)" if source.suffix == ".parquet" else "read_json(?, ignore_errors=true)"
    )
    con = duckdb.connect(str(database))
    con.execute(
        "CREATE TABLE queries (query_id BIGINT PRIMARY KEY, conversation_id VARCHAR, "
        "model VARCHAR, language VARCHAR, query_text VARCHAR)"
    )
    con.execute(
        f"""
        INSERT INTO queries
        SELECT row_number() OVER (), conversation_id, model, language, conversation[1].content
        FROM {reader} WHERE conversation[1].role = 'user'
        """,
        [str(source)],
    )
    rows = con.execute("SELECT count(*) FROM queries").fetchall()[0][0]
    con.close()
    return {"rows": rows}


def whole_job(source: Path, folder: Path) -> dict:
    """`lmsys-tui --run-job` with a load step: imports, load, job bookkeeping.

    Timed up to the end of the job; then the keyword index that the first keyword search
    (or the embed step) builds, and a second identical job (the rerun).
    """
    started, cpu = time.perf_counter(), time.process_time()
    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.retrieval.keyword_index import update_keyword_index
    from lmsys_tui.engine.specs import JobSpec, LoadStep
    from lmsys_tui.engine.workspace import open_workspace

    with open_workspace(folder) as ws:
        result = run_job(ws, JobSpec(load=LoadStep(source=str(source))))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        rss = peak_rss_mib()  # the load job's peak: the index and the rerun come after
        started, index_cpu = time.perf_counter(), time.process_time()
        update_keyword_index(ws)
        index_wall, index_cpu = time.perf_counter() - started, time.process_time() - index_cpu
        started = time.perf_counter()
        again = run_job(ws, JobSpec(load=LoadStep(source=str(source))))
        rerun = time.perf_counter() - started
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "rows": result["load"]["loaded"],
        "rss_mib": rss,
        "keyword_index_s": index_wall,
        "keyword_index_cpu_s": index_cpu,
        "rerun_s": rerun,
        "rerun_added": again["load"]["loaded"],
    }


def measure(kind: str, source: Path, target: Path) -> dict:
    """Run one measurement in a fresh process: its wall and CPU time and peak RSS. The
    source is read once first, so both sides find it in the page cache."""
    with open(source, "rb") as handle:
        while handle.read(1 << 24):
            pass
    command = [sys.executable, __file__, "--one", kind, str(source), str(target)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.splitlines()[-1])


def run_one(kind: str, source: Path, target: Path) -> None:
    if kind == "baseline":
        started, cpu = time.perf_counter(), time.process_time()
        found = baseline(source, target)
        found |= {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu}
    else:
        found = whole_job(source, target)
    found.setdefault("rss_mib", peak_rss_mib())
    print(json.dumps(found))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, source, target = args.one
        run_one(kind, Path(source), Path(target))
        return
    import duckdb

    prompts = real_prompts()
    print(f"# ingest on {machine()}; {len(prompts):,} distinct real prompts cycled")
    print(
        "format     rows   MiB | DuckDB wall / CPU / RSS | whole job wall / CPU / RSS "
        "(keyword index) | ratio wall, CPU | rerun"
    )
    for rows in args.rows:
        folder = Path(tempfile.mkdtemp(prefix="lmsys-bench-"))
        try:
            jsonl = folder / "chats.jsonl"
            write_source(jsonl, rows, prompts)
            parquet = folder / "chats.parquet"
            duckdb.sql(
                f"COPY (SELECT * FROM read_json('{jsonl}', ignore_errors=true)) TO '{parquet}'"
            )
            os.sync()  # the sources' write-back would otherwise slow whichever runs first
            for source in (jsonl, parquet):
                base = measure("baseline", source, folder / f"raw-{source.suffix[1:]}.duckdb")
                job = measure("job", source, folder / f"ws-{source.suffix[1:]}")
                print(
                    f"{source.suffix[1:]:7} {rows:>9,} {source.stat().st_size / 2**20:5.0f} | "
                    f"{base['wall_s']:6.1f} s {base['cpu_s']:6.1f} s {base['rss_mib']:5.0f} MiB | "
                    f"{job['wall_s']:6.1f} s {job['cpu_s']:6.1f} s {job['rss_mib']:5.0f} MiB | "
                    f"{job['wall_s'] / base['wall_s']:.2f}x {job['cpu_s'] / base['cpu_s']:.2f}x | "
                    f"{job['keyword_index_s']:.1f} s {job['keyword_index_cpu_s']:.1f} s | "
                    f"{job['rerun_s']:.1f} s adds {job['rerun_added']} | "
                    f"rows {base['rows']:,} / {job['rows']:,} (empty prompts skipped)",
                    flush=True,
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
