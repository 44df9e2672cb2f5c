"""Does a merged cluster get a title that names its topic?

On ../shared/data/arena_topics_dev.jsonl (one labelling at a time), a fine k-means run
(k = twice the number of topics, so topics come split over several clusters) is named
offline (key phrases, or taxonomy); then, for every topic that is the majority of two
clusters or more, those clusters are merged with `edit merge` into the largest, as a
person tidying the run would. For the merged clusters, the share whose title names
their majority topic (top-1 and top-5 among all topic names, by embedding similarity,
as benchmarks/quality.py ranks titles), for three ways of titling them:

- kept: the title the largest cluster had (what a merge gave before);
- merged: what a merge gives now (key phrases of all the merged cluster's texts against
  a sample of the other clusters, no model; in taxonomy names after the largest's topic);
- run: the whole run named again after the merges (`[summarize]`).

    python benchmarks/merge_titles.py [--labelling mpnet|openai|both]
        [--modes offline,taxonomy] [--workdir DIR]
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from quality import prepare, query_labels, title_ranks
from split_titles import run_labellings, shares

from lmsys_tui.engine.clustering.runs import cluster_space
from lmsys_tui.engine.curation.edits import merge_clusters
from lmsys_tui.engine.embedding.embed import space_embedder
from lmsys_tui.engine.naming.summarize import summarize_run
from lmsys_tui.engine.specs import ClusterStep, SummarizeStep


def evaluate(workdir: Path, labelling: str, mode: str) -> dict:
    ws, space_id, rows = prepare(workdir, labelling)
    labels = query_labels(ws, rows)
    topics = sorted({row["topic"] for row in rows})
    fine = ClusterStep(n_clusters=len(topics) * 2, seed=42)
    run = cluster_space(ws, fine, space_id, reuse=False)
    summary = summarize_run(ws, SummarizeStep(model=mode), run.run_id).summary_run_id

    def titles(summary_run_id: str) -> dict[int, str]:
        return dict(
            ws.con.execute(
                "SELECT cluster_id, title FROM cluster_summaries WHERE summary_run_id = ?",
                [summary_run_id],
            ).fetchall()
        )

    def majorities() -> dict[int, str]:
        members = defaultdict(Counter)
        for query_id, cluster_id in ws.con.execute(
            "SELECT query_id, cluster_id FROM query_clusters WHERE run_id = ?", [run.run_id]
        ).fetchall():
            members[cluster_id][labels[query_id]["topic"]] += 1
        return {c: counts.most_common(1)[0][0] for c, counts in members.items()}

    before = titles(summary)
    sizes = dict(
        ws.con.execute(
            "SELECT cluster_id, size FROM clusters WHERE run_id = ?", [run.run_id]
        ).fetchall()
    )
    by_topic = defaultdict(list)
    for cluster_id, topic in majorities().items():
        by_topic[topic].append(cluster_id)
    seconds, merged = [], []
    for group in by_topic.values():
        if len(group) < 2:
            continue
        into = max(group, key=lambda c: (sizes[c], -c))
        started = time.perf_counter()
        merge_clusters(ws, run.run_id, group, into=into)
        seconds.append(time.perf_counter() - started)
        merged.append(into)
    majority = {c: topic for c, topic in majorities().items() if c in merged}
    embedder = space_embedder(ws, space_id)
    after = titles(summary)
    rerun = summarize_run(ws, SummarizeStep(model=mode, alias="rerun"), run.run_id)
    renamed = titles(rerun.summary_run_id)
    report = {
        "labelling": labelling,
        "mode": mode,
        "topics": len(topics),
        "clusters": len(sizes),
        "merged_clusters": len(merged),
        "merge_seconds_median": round(float(np.median(seconds)), 2),
    }
    for name, shown in (
        ("kept", {c: before[c] for c in merged}),
        ("merged", {c: after[c] for c in merged}),
        ("run", {c: renamed[c] for c in merged}),
    ):
        report[name] = shares(title_ranks(embedder, shown, majority, topics))
    report["sample"] = [[before[c], after[c], majority[c]] for c in sorted(merged)[:12]]
    ws.close()
    return report


if __name__ == "__main__":
    run_labellings(evaluate, "merge")
