"""CLI calls as agents make them: a fresh process per call, on an existing workspace.

    python benchmarks/cli_calls.py WORKSPACE [--repeat 5]

Each command runs `--repeat` times in a new process (imports, workspace opening and model
loading included); the table gives the median wall time and CPU time (user + system of
the child). Two baselines run in the same script: a bare Python process that opens the
workspace with DuckDB and counts its queries (the floor for any call), and semantic search
with the ONNX query encoder hidden, i.e. through torch and sentence-transformers (how every
semantic search ran before the export).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import machine

FLOOR = (
    "import sys, duckdb; con = duckdb.connect(sys.argv[1] + '/lmsys.duckdb', read_only=True); "
    "con.execute('SELECT count(*) FROM queries').fetchall()"
)


def timed(command: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(command: list[str], repeat: int) -> tuple[float, float]:
    runs = [timed(command) for _ in range(repeat)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ws = str(args.workspace)
    cli = [sys.executable, "-m", "lmsys_tui.cli", "--data-dir", ws]
    listed = subprocess.run(
        [*cli, "runs", "--latest", "--json"], capture_output=True, text=True, check=True
    ).stdout
    run_id = json.loads(listed)["runs"][0]["run_id"]
    commands = {
        "baseline: python + duckdb, count queries": [sys.executable, "-c", FLOOR, ws],
        "runs": [*cli, "runs"],
        "clusters RUN": [*cli, "clusters", run_id],
        "search --mode keyword": [*cli, "search", "vector databases", "--mode", "keyword"],
        "search --mode semantic": [*cli, "search", "vector databases", "--mode", "semantic"],
        "search --mode hybrid": [*cli, "search", "vector databases", "--mode", "hybrid"],
        "search-clusters": [*cli, "search-clusters", "vector databases"],
    }
    results = {name: measure(command, args.repeat) for name, command in commands.items()}
    models = args.workspace / "models"
    hidden = args.workspace / "models.hidden-by-benchmark"
    if models.exists():
        os.replace(models, hidden)
        try:
            name = "baseline: search --mode semantic through torch"
            results[name] = measure(commands["search --mode semantic"], args.repeat)
        finally:
            if hidden.exists():
                shutil.rmtree(models, ignore_errors=True)
                os.replace(hidden, models)
    print(f"# CLI calls on {machine()}; {ws}; median of {args.repeat} fresh processes each")
    print("| command | wall | CPU |")
    print("| --- | --- | --- |")
    for name, (wall, cpu) in results.items():
        print(f"| {name} | {wall:.2f} s | {cpu:.2f} s |")


if __name__ == "__main__":
    main()
