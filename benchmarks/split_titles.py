"""Do the parts of a split cluster get titles that name their topic?

On ../shared/data/arena_topics_dev.jsonl (one labelling at a time), a coarse k-means run
(k = half the number of topics) is named offline (key phrases, or taxonomy); then every
cluster of 20 prompts or more is split in two with `edit split`. For the parts, the
share whose title names the part's majority topic (top-1 and top-5 among all topic
names, by embedding similarity, as benchmarks/quality.py ranks titles), for three ways of
titling them:

- whole: the title of the cluster they were split from (what a split gave before: that
  title with "(part n)" added);
- parts: what a split gives now (the parts' key phrases against a sample of the other
  clusters, no model; in taxonomy names after the whole's topic);
- run: the whole run named again after the splits (`[summarize]`: every cluster's key
  phrases against the whole run ranked by the model, and matched to a topic again).

    python benchmarks/split_titles.py [--labelling mpnet|openai|both] [--modes offline,taxonomy]
        [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from _common import machine
from quality import prepare, query_labels, title_ranks

from lmsys_tui.engine.clustering.runs import cluster_space
from lmsys_tui.engine.curation.edits import split_cluster
from lmsys_tui.engine.embedding.embed import space_embedder
from lmsys_tui.engine.naming.summarize import summarize_run
from lmsys_tui.engine.specs import ClusterStep, SummarizeStep

MIN_SIZE = 20


def shares(ranks: dict[int, int]) -> dict:
    values = np.array(list(ranks.values()))
    return {
        "top1": round(float((values <= 1).mean()), 3),
        "top5": round(float((values <= 5).mean()), 3),
        "median_rank": float(np.median(values)),
    }


def evaluate(workdir: Path, labelling: str, mode: str) -> dict:
    ws, space_id, rows = prepare(workdir, labelling)
    labels = query_labels(ws, rows)
    topics = sorted({row["topic"] for row in rows})
    coarse = ClusterStep(n_clusters=len(topics) // 2, seed=42)
    run = cluster_space(ws, coarse, space_id, reuse=False)
    summary = summarize_run(ws, SummarizeStep(model=mode), run.run_id).summary_run_id

    def titles() -> dict[int, str]:
        return dict(
            ws.con.execute(
                "SELECT cluster_id, title FROM cluster_summaries WHERE summary_run_id = ?",
                [summary],
            ).fetchall()
        )

    before = titles()
    sizes = dict(
        ws.con.execute(
            "SELECT cluster_id, size FROM clusters WHERE run_id = ?", [run.run_id]
        ).fetchall()
    )
    whole_of: dict[int, int] = {}
    seconds = []
    for cluster_id in sorted(c for c, size in sizes.items() if size >= MIN_SIZE):
        started = time.perf_counter()
        edit_id = split_cluster(ws, run.run_id, cluster_id, k=2)
        seconds.append(time.perf_counter() - started)
        new = ws.con.execute("SELECT new FROM edits WHERE edit_id = ?", [edit_id]).fetchall()
        for part in json.loads(new[0][0])["cluster_ids"]:
            whole_of[part] = cluster_id
    members = ws.con.execute(
        "SELECT query_id, cluster_id FROM query_clusters WHERE run_id = ?", [run.run_id]
    ).fetchall()
    majority = {
        part: Counter(labels[q]["topic"] for q, c in members if c == part).most_common(1)[0][0]
        for part in whole_of
    }
    embedder = space_embedder(ws, space_id)
    after = titles()
    rerun = summarize_run(ws, SummarizeStep(model=mode, alias="rerun"), run.run_id)
    renamed = dict(
        ws.con.execute(
            "SELECT cluster_id, title FROM cluster_summaries WHERE summary_run_id = ?",
            [rerun.summary_run_id],
        ).fetchall()
    )
    report = {
        "labelling": labelling,
        "mode": mode,
        "topics": len(topics),
        "clusters": len(sizes),
        "split": len(set(whole_of.values())),
        "n_parts": len(whole_of),
        "split_seconds_median": round(float(np.median(seconds)), 2),
    }
    for name, shown in (
        ("whole", {part: before[whole] for part, whole in whole_of.items()}),
        ("parts", {part: after[part] for part in whole_of}),
        ("run", {part: renamed[part] for part in whole_of}),
    ):
        report[name] = shares(title_ranks(embedder, shown, majority, topics))
    report["sample"] = [
        [before[whole], after[part]] for part, whole in sorted(whole_of.items())[:12]
    ]
    ws.close()
    return report


def run_labellings(evaluate, what: str) -> None:
    """The command line shared with merge_titles.py: `evaluate(workdir, labelling, mode)`
    for each labelling and summary mode asked for, one JSON report each."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--labelling", choices=["mpnet", "openai", "both"], default="both")
    parser.add_argument("--modes", default="offline,taxonomy", help=f"summary modes to {what} in")
    parser.add_argument("--workdir", type=Path, help="keep embedded workspaces here")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"lmsys-{what}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# {what} titles on {machine()}")
    for labelling in ["mpnet", "openai"] if args.labelling == "both" else [args.labelling]:
        for mode in args.modes.split(","):
            report = evaluate(workdir, labelling, mode)
            print(json.dumps(report, ensure_ascii=False, indent=1), flush=True)


if __name__ == "__main__":
    run_labellings(evaluate, "split")
