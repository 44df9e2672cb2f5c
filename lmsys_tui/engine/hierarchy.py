"""Hierarchies of broader categories over a summary run's clusters.

With an LLM: Clio-style levels (llm_hierarchy.py). Offline: Ward agglomeration of cluster
centroids, level by level, each level about `merge_ratio` times the size of the one
below; parents are labelled by the offline labeller from their children's queries.
Noise (cluster -1) stays its own branch.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from .errors import SummaryError
from .keywords import class_keywords
from .progress import Progress, ProgressSink, null_sink
from .specs import HierarchyStep
from .store import slug, transaction, unique_id
from .summarize import cluster_samples, keyword_title
from .workspace import Workspace


@dataclass
class HierarchyResult:
    hierarchy_run_id: str
    run_id: str
    summary_run_id: str
    levels: int
    nodes_per_level: list[int]
    reused: bool
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Node:
    node_id: str
    level: int
    centroid: np.ndarray
    size: int
    title: str
    description: str
    cluster_id: int | None = None
    parent_id: str | None = None
    leaves: tuple[int, ...] = ()


def build_hierarchy(
    ws: Workspace,
    step: HierarchyStep,
    run_id: str,
    summary_run_id: str,
    progress: ProgressSink = null_sink,
) -> HierarchyResult:
    """Build (or reuse) a hierarchy of `run_id`'s clusters named by `summary_run_id`.

    Raises:
        SummaryError: the model cannot be used, or the summary run has no clusters.
    """
    started = time.perf_counter()
    parameters = json.dumps(
        {
            "levels": step.levels,
            "merge_ratio": step.merge_ratio,
            "seed": step.seed,
            "api_base": step.api_base,
        },
        sort_keys=True,
    )
    found = ws.con.execute(
        """
        SELECT hierarchy_run_id FROM hierarchy_runs
        WHERE summary_run_id = ? AND model = ? AND parameters = ?::JSON AND status = 'complete'
        ORDER BY created_at DESC LIMIT 1
        """,
        [summary_run_id, step.model, parameters],
    ).fetchall()
    if found:
        counts = ws.con.execute(
            "SELECT level, count(*) FROM hierarchy_nodes WHERE hierarchy_run_id = ? "
            "GROUP BY level ORDER BY level",
            [found[0][0]],
        ).fetchall()
        return HierarchyResult(
            found[0][0], run_id, summary_run_id, len(counts) - 1, [n for _, n in counts], True, 0.0
        )
    leaves = _leaves(ws, run_id, summary_run_id)
    docs, classes = cluster_samples(ws, run_id, seed=step.seed)
    nodes_by_level = [leaves]
    for level in range(1, step.levels + 1):
        progress(Progress("hierarchy", level - 1, step.levels, f"level {level}"))
        below = nodes_by_level[-1]
        if step.model == "offline":
            parents = _merge(below, level, step.merge_ratio, docs, classes)
        else:
            from .llm_hierarchy import llm_level

            parents = llm_level(below, level, step, progress)
        if parents is None:
            break
        nodes_by_level.append(parents)
    progress(Progress("hierarchy", step.levels, step.levels))
    base = f"hierarchy-{slug(step.model)}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    hierarchy_run_id = unique_id(ws.con, "hierarchy_runs", "hierarchy_run_id", base)
    _save(ws, hierarchy_run_id, run_id, summary_run_id, step.model, parameters, nodes_by_level)
    return HierarchyResult(
        hierarchy_run_id,
        run_id,
        summary_run_id,
        len(nodes_by_level) - 1,
        [len(nodes) for nodes in nodes_by_level],
        False,
        time.perf_counter() - started,
    )


def _leaves(ws: Workspace, run_id: str, summary_run_id: str) -> list[Node]:
    rows = ws.con.execute(
        """
        SELECT c.cluster_id, c.size, c.centroid, s.title, s.description
        FROM clusters c LEFT JOIN cluster_summaries s
          ON s.summary_run_id = ? AND s.cluster_id = c.cluster_id
        WHERE c.run_id = ? ORDER BY c.cluster_id
        """,
        [summary_run_id, run_id],
    ).fetchall()
    if not rows:
        raise SummaryError(f"run {run_id} has no clusters")
    return [
        Node(
            f"L0-{cluster_id}",
            0,
            np.asarray(centroid, np.float32),
            size,
            title or f"cluster {cluster_id}",
            description or "",
            cluster_id,
            leaves=(cluster_id,),
        )
        for cluster_id, size, centroid, title, description in rows
    ]


def _merge(below: list[Node], level: int, merge_ratio: float, docs, classes) -> list[Node] | None:
    """Group `below` into about merge_ratio times as many parents; None when none fewer."""
    from sklearn.cluster import AgglomerativeClustering

    noise = [n for n in below if n.leaves == (-1,)]
    regular = [n for n in below if n.leaves != (-1,)]
    target = max(1, math.ceil(len(regular) * merge_ratio))
    if len(regular) < 2 or target >= len(regular):
        return None
    centroids = np.stack([n.centroid for n in regular])
    groups = AgglomerativeClustering(n_clusters=target, linkage="ward").fit_predict(centroids)
    members = [[regular[i] for i in np.flatnonzero(groups == g)] for g in range(target)]
    members.sort(key=lambda group: (-sum(n.size for n in group), group[0].node_id))
    parents = [parent_node(f"L{level}-{i}", level, group) for i, group in enumerate(members)]
    if noise:
        parents.append(parent_node(f"L{level}-noise", level, noise))
    _label(parents, docs, classes)
    return parents


def parent_node(node_id: str, level: int, children: list[Node]) -> Node:
    sizes = np.array([c.size for c in children], dtype=np.float32)
    centroid = (np.stack([c.centroid for c in children]) * sizes[:, None]).sum(axis=0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    for child in children:
        child.parent_id = node_id
    largest = sorted(children, key=lambda c: -c.size)[:3]
    description = "Includes: " + "; ".join(c.title for c in largest)
    leaves = tuple(sorted(leaf for c in children for leaf in c.leaves))
    return Node(node_id, level, centroid, int(sizes.sum()), "", description[:300], leaves=leaves)


def _label(parents: list[Node], docs: list[str], classes: np.ndarray) -> None:
    """Title each parent by the keywords of its leaves' queries against the other parents."""
    parent_of_leaf = {leaf: index for index, p in enumerate(parents) for leaf in p.leaves}
    parent_classes = np.array([parent_of_leaf.get(int(c), -1) for c in classes])
    keep = parent_classes >= 0
    keywords = class_keywords(
        [d for d, k in zip(docs, keep, strict=True) if k], parent_classes[keep]
    )
    for index, parent in enumerate(parents):
        parent.title = keyword_title(keywords.get(index, []), parent.leaves == (-1,))


def _save(ws, hierarchy_run_id, run_id, summary_run_id, model, parameters, levels) -> None:
    nodes = [node for level in levels for node in level]
    table = pa.table(
        {
            "node_id": [n.node_id for n in nodes],
            "level": pa.array([n.level for n in nodes], pa.int32()),
            "parent_id": [n.parent_id for n in nodes],
            "cluster_id": pa.array([n.cluster_id for n in nodes], pa.int32()),
            "title": [n.title for n in nodes],
            "description": [n.description for n in nodes],
            "size": pa.array([n.size for n in nodes], pa.int64()),
        }
    )
    con = ws.con
    con.register("new_nodes", table)
    try:
        with transaction(con):
            con.execute(
                "INSERT INTO hierarchy_runs VALUES (?, ?, ?, ?, ?::JSON, 'complete', "
                "now()::TIMESTAMP, now()::TIMESTAMP)",
                [hierarchy_run_id, run_id, summary_run_id, model, parameters],
            )
            con.execute(
                "INSERT INTO hierarchy_nodes SELECT ?, * FROM new_nodes", [hierarchy_run_id]
            )
    finally:
        con.unregister("new_nodes")
