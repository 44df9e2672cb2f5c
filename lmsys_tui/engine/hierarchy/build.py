"""Hierarchies of broader categories over a summary run's clusters.

`level_plan` fixes how many nodes each level has: the top level about `top_size`
(browsable: 8-20 categories on real runs, never a lone root), the levels between shrinking
by about `merge_ratio`, at most `levels` of them. With an LLM: Clio-style levels
(llm_levels.py). Offline: cuts of one Ward tree over the cluster centroids, a parent
over MAX_SHARE of the prompts split again. Against human broad categories over six
k-means seeds, no other grouping measured (size-weighted k-means, spectral, average
linkage, Ward beside taxonomy-area profiles) did better beyond the seeds' spread
(docs/benchmarks.md). Parents are named by key phrases from their leaves' queries (a
parent of one node by that node's name). A level of one node is never stored. Noise
(cluster -1) stays its own branch.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from ..embedding.embed import space_embedder
from ..errors import SummaryError
from ..naming.offline import ClusterSample, cluster_samples, phrase_embedding
from ..naming.phrases import key_phrases, phrase_title
from ..progress import Progress, ProgressSink, null_sink
from ..specs import HierarchyStep
from ..store import slug, transaction, unique_id
from ..workspace import Workspace

MAX_SHARE = 0.35  # a category above this share of prompts is split when it can be
OFFLINE_GROUPING = "ward over centroids"


@dataclass
class HierarchyResult:
    hierarchy_run_id: str
    run_id: str
    summary_run_id: str
    levels: int
    nodes_per_level: list[int]
    reused: bool
    seconds: float
    largest_share: list[float] = field(default_factory=list)  # per level, 0 = clusters
    warnings: list[str] = field(default_factory=list)
    usage: dict = field(default_factory=dict)  # LLM requests, tokens, cost (an LLM model)

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

    @property
    def is_noise(self) -> bool:
        """Cluster -1 or the branch holding it: kept apart, never a category."""
        return self.leaves == (-1,)


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
    settings = {
        "levels": step.levels,
        "merge_ratio": step.merge_ratio,
        "top_size": step.top_size,
        "seed": step.seed,
        "api_base": step.api_base,
        # The names it was built from: repaired or edited summaries mean a new build.
        "summaries": _summaries_fingerprint(ws, summary_run_id),
    }
    if step.model == "offline":  # how levels group clusters: a change means a new build
        settings["grouping"] = OFFLINE_GROUPING
    parameters = json.dumps(settings, sort_keys=True)
    found = _find_run(ws, summary_run_id, step.model, parameters, "complete")
    if found:
        counts = ws.con.execute(
            """
            SELECT level, count(*), count(*) FILTER (NOT noise),
                   coalesce(max(size) FILTER (NOT noise), 0) / sum(size)
            FROM (SELECT *, coalesce(cluster_id = -1, false) OR node_id LIKE '%-noise' AS noise
                  FROM hierarchy_nodes WHERE hierarchy_run_id = ?)
            GROUP BY level ORDER BY level
            """,
            [found],
        ).fetchall()
        shares = [round(float(share), 3) for *_, share in counts]
        return HierarchyResult(
            found,
            run_id,
            summary_run_id,
            len(counts) - 1,
            [n for _, n, _, _ in counts],
            True,
            0.0,
            shares,
            _balance_warnings(shares, counts[-1][2]),
        )
    if step.model != "offline":  # a build to make asks the LLM: its key first
        from ..llm.client import missing_key

        if problem := missing_key(step.model, step.api_base):
            raise SummaryError(problem)
    leaves = _leaves(ws, run_id, summary_run_id)
    hierarchy_run_id = _find_run(ws, summary_run_id, step.model, parameters, "running")
    if hierarchy_run_id:  # an interrupted build: continue above its saved levels
        nodes_by_level = _saved_levels(ws, hierarchy_run_id, leaves)
    else:
        base = f"hierarchy-{slug(step.model)}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        hierarchy_run_id = unique_id(ws.con, "hierarchy_runs", "hierarchy_run_id", base)
        with transaction(ws.con):
            ws.con.execute(
                "INSERT INTO hierarchy_runs VALUES (?, ?, ?, ?, ?::JSON, 'running', "
                "now()::TIMESTAMP, NULL, NULL)",
                [hierarchy_run_id, run_id, summary_run_id, step.model, parameters],
            )
            _insert_nodes(ws, hierarchy_run_id, leaves)
        nodes_by_level = [leaves]
    space_id = _run_space(ws, run_id)
    plan = level_plan(
        sum(1 for n in leaves if n.cluster_id != -1), step.levels, step.merge_ratio, step.top_size
    )
    if step.model == "offline":
        sample = cluster_samples(ws, run_id, seed=step.seed)
        embed = phrase_embedding(ws, space_id, progress)
    else:
        embedder = space_embedder(ws, space_id)
    usage: dict = {}
    if step.model != "offline":
        from ..llm.costs import check_cap, plan_hierarchy

        cost_plan = plan_hierarchy(ws, step, run_id, summary_run_id)
        progress(Progress("hierarchy", 0, len(plan), cost_plan.line()))
        check_cap(cost_plan, step.max_cost)
        usage["cost_per_request"] = cost_plan.cost_per_request or 0.0
    for level in range(len(nodes_by_level), len(plan) + 1):
        progress(Progress("hierarchy", level - 1, len(plan), f"level {level}"))
        below = nodes_by_level[-1]
        target = plan[level - 1]
        if step.model == "offline":
            parents = _merge(below, level, target, leaves, sample, embed)
        else:
            from ..llm.client import ReplyCache
            from .llm_levels import llm_level

            parents = llm_level(
                below, level, target, step, embedder, ReplyCache(ws.con), progress, usage
            )
        if parents is None or sum(1 for p in parents if not p.is_noise) < 2:
            break  # a level of one node (a lone root) says nothing: not stored
        _save_level(ws, hierarchy_run_id, below, parents)
        nodes_by_level.append(parents)
    usage.pop("cost_per_request", None)
    if usage:  # the ledger: this pass added to what an interrupted earlier pass spent
        from ..llm.costs import add_to_ledger

        add_to_ledger(ws.con, "hierarchy_runs", hierarchy_run_id, usage)
    ws.con.execute(
        "UPDATE hierarchy_runs SET status = 'complete', finished_at = now()::TIMESTAMP "
        "WHERE hierarchy_run_id = ?",
        [hierarchy_run_id],
    )
    progress(Progress("hierarchy", len(plan), len(plan)))
    shares = [_largest_share(nodes) for nodes in nodes_by_level]
    top_categories = sum(1 for n in nodes_by_level[-1] if not n.is_noise)
    warnings = _balance_warnings(shares, top_categories)
    for warning in warnings:
        progress(Progress("hierarchy", len(plan), len(plan), f"warning: {warning}"))
    return HierarchyResult(
        hierarchy_run_id,
        run_id,
        summary_run_id,
        len(nodes_by_level) - 1,
        [len(nodes) for nodes in nodes_by_level],
        False,
        time.perf_counter() - started,
        shares,
        warnings,
        usage,
    )


def _cap(nodes: int) -> float:
    """The largest share a category may hold among `nodes`: MAX_SHARE, more when there are
    under 6 (of 2 categories one holds at least half)."""
    return max(MAX_SHARE, 2 / max(nodes, 1))


def _largest_share(nodes: list[Node]) -> float:
    """The largest node's share of the level's prompts; noise (cluster -1 and its branch)
    is no category, so it never counts as the largest."""
    largest = max((n.size for n in nodes if not n.is_noise), default=0)
    return round(largest / max(sum(n.size for n in nodes), 1), 3)


def _balance_warnings(shares: list[float], top_nodes: int) -> list[str]:
    """The balance check both paths share: a top category over the cap is reported.

    Offline levels split such categories when they can; an LLM's assignment is kept as
    it chose, so its imbalance is said out loud.
    """
    if len(shares) < 2 or shares[-1] <= _cap(top_nodes):
        return []
    return [
        f"the largest top category holds {shares[-1]:.0%} of prompts (over "
        f"{_cap(top_nodes):.0%}): the data is that skewed, or a larger top_size would split it"
    ]


def _summaries_fingerprint(ws: Workspace, summary_run_id: str) -> str:
    """A hash of the summary run's titles and descriptions as they are now."""
    digest = ws.con.execute(
        "SELECT md5(coalesce(string_agg(cluster_id || chr(31) || coalesce(title, '') || chr(31) "
        "|| coalesce(description, ''), chr(30) ORDER BY cluster_id), '')) "
        "FROM cluster_summaries WHERE summary_run_id = ? AND error IS NULL",
        [summary_run_id],
    ).fetchall()[0][0]
    return digest[:16]


def _run_space(ws: Workspace, run_id: str) -> str:
    return ws.con.execute(
        "SELECT space_id FROM clustering_runs WHERE run_id = ?", [run_id]
    ).fetchall()[0][0]


def _find_run(ws: Workspace, summary_run_id: str, model: str, parameters: str, status: str):
    rows = ws.con.execute(
        """
        SELECT hierarchy_run_id FROM hierarchy_runs
        WHERE summary_run_id = ? AND model = ? AND parameters = ?::JSON AND status = ?
        ORDER BY created_at DESC LIMIT 1
        """,
        [summary_run_id, model, parameters, status],
    ).fetchall()
    return rows[0][0] if rows else None


def _saved_levels(ws: Workspace, hierarchy_run_id: str, leaves: list[Node]) -> list[list[Node]]:
    """Rebuild the levels an interrupted build saved, centroids from their leaves."""
    rows = ws.con.execute(
        "SELECT node_id, level, parent_id, title, description FROM hierarchy_nodes "
        "WHERE hierarchy_run_id = ? AND level > 0",
        [hierarchy_run_id],
    ).fetchall()
    parent_of = dict(
        ws.con.execute(
            "SELECT node_id, parent_id FROM hierarchy_nodes WHERE hierarchy_run_id = ?",
            [hierarchy_run_id],
        ).fetchall()
    )
    levels = [leaves]
    for level in range(1, max((r[1] for r in rows), default=0) + 1):
        saved = sorted((r for r in rows if r[1] == level), key=lambda r: _node_order(r[0]))
        below = levels[-1]
        for node in below:
            node.parent_id = parent_of.get(node.node_id)
        nodes = []
        for node_id, _, _, title, description in saved:
            parent = parent_node(node_id, level, [n for n in below if n.parent_id == node_id])
            parent.title, parent.description = title, description
            nodes.append(parent)
        levels.append(nodes)
    for node in levels[-1]:
        node.parent_id = parent_of.get(node.node_id)
    return levels


def _node_order(node_id: str) -> tuple[int, int]:
    suffix = node_id.rsplit("-", 1)[1]
    return (1, 0) if suffix == "noise" else (0, int(suffix))


def _save_level(ws: Workspace, hierarchy_run_id: str, below: list[Node], parents: list[Node]):
    """Link the level below to its parents and add them, in one transaction."""
    links = pa.table(
        {"node_id": [n.node_id for n in below], "parent_id": [n.parent_id for n in below]}
    )
    ws.con.register("new_links", links)
    try:
        with transaction(ws.con):
            ws.con.execute(
                "UPDATE hierarchy_nodes SET parent_id = l.parent_id FROM new_links l "
                "WHERE hierarchy_nodes.hierarchy_run_id = ? "
                "AND hierarchy_nodes.node_id = l.node_id",
                [hierarchy_run_id],
            )
            _insert_nodes(ws, hierarchy_run_id, parents)
    finally:
        ws.con.unregister("new_links")


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


def level_plan(n_leaves: int, levels: int, merge_ratio: float, top_size: int) -> list[int]:
    """Nodes per level above the leaves, bottom up; empty when the run is too small.

    The top has `top_size` nodes (fewer on small runs: at most 40 % of the leaves and at
    least 2); as many levels as shrinking by `merge_ratio` needs to get there, at most
    `levels`, sized evenly on a log scale.
    """
    top = min(top_size, max(2, math.ceil(n_leaves * 0.4)), n_leaves - 1)
    if top < 2:
        return []
    steps = math.ceil(math.log(n_leaves / top) / math.log(1 / merge_ratio) - 1e-9)
    steps = min(max(steps, 1), levels)
    sizes = [round(n_leaves * (top / n_leaves) ** (level / steps)) for level in range(1, steps)]
    return [*sizes, top]


def _merge(
    below: list[Node], level: int, target: int, leaves: list[Node], sample: ClusterSample, embed
) -> list[Node] | None:
    """Group `below` into `target` parents by cutting one Ward tree over the leaf
    centroids (so every level nests in the next), then split any parent over MAX_SHARE of
    the prompts; None when that would not be fewer nodes."""
    from sklearn.cluster import AgglomerativeClustering

    noise = [n for n in below if n.is_noise]
    regular = [n for n in below if not n.is_noise]
    if len(regular) < 2 or target >= len(regular):
        return None
    real_leaves = [n for n in leaves if n.cluster_id != -1]
    cut = AgglomerativeClustering(n_clusters=target, linkage="ward").fit_predict(
        np.stack([n.centroid for n in real_leaves])
    )
    group_of_leaf = {n.cluster_id: int(g) for n, g in zip(real_leaves, cut, strict=True)}
    groups: dict[int, list[Node]] = {}
    for node in regular:  # a node's leaves share one group (a cut of the same tree)
        votes = np.bincount([group_of_leaf[leaf] for leaf in node.leaves], minlength=target)
        groups.setdefault(int(np.argmax(votes)), []).append(node)
    cap = _cap(target) * sum(n.size for n in regular)
    members = _balanced(list(groups.values()), cap, 2 * target)
    if len(members) >= len(regular):
        return None
    members.sort(key=lambda group: (-sum(n.size for n in group), group[0].node_id))
    children = [*members, noise] if noise else members
    parents = [parent_node(f"L{level}-{i}", level, group) for i, group in enumerate(members)]
    if noise:
        parents.append(parent_node(f"L{level}-noise", level, noise))
    _label(parents, children, sample, embed)
    return parents


def _balanced(groups: list[list[Node]], cap: float, most: int) -> list[list[Node]]:
    """Split the largest group in two (Ward on its nodes) while it holds more than `cap`
    prompts and can be split, up to `most` groups: a single node that large is the data's
    own skew and stays."""
    from sklearn.cluster import AgglomerativeClustering

    groups = [g for g in groups if g]
    while len(groups) < most:
        largest = max(groups, key=lambda g: sum(n.size for n in g))
        if sum(n.size for n in largest) <= cap or len(largest) < 2:
            break
        halves = AgglomerativeClustering(n_clusters=2, linkage="ward").fit_predict(
            np.stack([n.centroid for n in largest])
        )
        groups.remove(largest)
        groups += [
            [n for n, h in zip(largest, halves, strict=True) if h == side] for side in (0, 1)
        ]
    return groups


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


def _label(parents: list[Node], children: list[list[Node]], sample: ClusterSample, embed) -> None:
    """Title each parent by key phrases of its leaves' queries against the other parents;
    a parent of one node by that node's title (the same prompts: one name, where the noise
    branch had two)."""
    parent_of_leaf = {leaf: index for index, p in enumerate(parents) for leaf in p.leaves}
    parent_classes = np.array([parent_of_leaf.get(int(c), -1) for c in sample.classes])
    keep = parent_classes >= 0
    kept = sample.where(keep)
    phrases = key_phrases(
        kept.texts,
        parent_classes[keep],
        {index: p.centroid for index, p in enumerate(parents)},
        embed,
        originals=True,
        languages=kept.languages,
        # Word forms counted apart: over a category's several clusters, stems lift verbs
        # ("draw", "drawing", "draws"), and category titles named their broad topic less
        # often (docs/benchmarks.md, "Names and hierarchies").
        stem=False,
    )
    for index, (parent, kids) in enumerate(zip(parents, children, strict=True)):
        found = phrases.get(index, [])
        if len(kids) == 1:
            parent.title = kids[0].title
        else:
            prefix = "Noise: " if parent.is_noise else ""
            parent.title = (
                _unlike_children(found, kids, prefix)
                or (prefix + (parent.title or "(no key phrases)"))[:60]
            )
        if found:
            parent.description = (f"Key phrases: {', '.join(found[:6])}. {parent.description}")[
                :400
            ]


def _unlike_children(phrases: list[str], children: list[Node], prefix: str) -> str:
    """A title from the key phrases that no child has: a category named as its largest
    subcategory ("SQL, data, schema" over "SQL, data, schema") reads as one level. The
    best phrases stay; the last of the three gives way first, then the second, then the
    first."""
    taken = {child.title.lower() for child in children}
    variants = [phrases]
    variants += [phrases[:i] + phrases[i + 1 :] for i in reversed(range(min(3, len(phrases))))]
    variants += [phrases[start:] for start in range(2, len(phrases))]
    titles = [(prefix + title)[:60] for title in map(phrase_title, variants) if title]
    return next((t for t in titles if t.lower() not in taken), titles[0] if titles else "")


def _insert_nodes(ws: Workspace, hierarchy_run_id: str, nodes: list[Node]) -> None:
    table = pa.table(
        {
            "node_id": [n.node_id for n in nodes],
            "level": pa.array([n.level for n in nodes], pa.int32()),
            "parent_id": pa.array([n.parent_id for n in nodes], pa.string()),
            "cluster_id": pa.array([n.cluster_id for n in nodes], pa.int32()),
            "title": [n.title for n in nodes],
            "description": [n.description for n in nodes],
            "size": pa.array([n.size for n in nodes], pa.int64()),
        }
    )
    ws.con.register("new_nodes", table)
    try:
        ws.con.execute("INSERT INTO hierarchy_nodes SELECT ?, * FROM new_nodes", [hierarchy_run_id])
    finally:
        ws.con.unregister("new_nodes")
