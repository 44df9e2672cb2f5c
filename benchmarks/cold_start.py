"""TUI start-up: a fresh process until the Runs screen shows its table, headless.

    python benchmarks/cold_start.py DATA_DIR [--repeat 5]

Each run is a new Python process (imports included), on an existing workspace such as
the 1M-query one `benchmarks/search.py --keep DIR` leaves in DIR/1000000/ws.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from _common import machine

CHILD = """
import asyncio, sys, time
started = time.perf_counter()
from lmsys_tui.app import make_app
from textual.widgets import DataTable

async def main():
    app = make_app(sys.argv[1])
    async with app.run_test(size=(120, 36)) as pilot:
        while app.screen.query_one(DataTable).row_count == 0:
            await pilot.pause(0.005)
        print(time.perf_counter() - started)
        heavy = [m for m in ("torch", "sentence_transformers", "litellm") if m in sys.modules]
        print(",".join(heavy) or "none")

asyncio.run(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times = []
    for _ in range(args.repeat):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, args.data_dir],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        times.append(float(out[0]))
    print(f"# cold start on {machine()}; {args.data_dir}")
    print(
        f"first screen with data: median {statistics.median(times) * 1000:.0f} ms, "
        f"min {min(times) * 1000:.0f} ms; heavy modules imported: {out[1]}"
    )


if __name__ == "__main__":
    main()
