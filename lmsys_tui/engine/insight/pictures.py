"""The numbers behind the pictures: cluster sizes, a 2-D map of the centroids, and the
language mix of each top category. Front ends draw them (plotext in the TUI, SVG in the
HTML report); nothing here draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from ..browse import UNKNOWN, NotFound, list_clusters, resolve_summary_run, unknown_run


@dataclass
class ClusterPoint:
    cluster_id: int
    title: str
    size: int
    x: float
    y: float


@dataclass
class LanguageMix:
    languages: list[str]  # columns, most common first
    categories: list[str]  # rows: top categories (or the largest clusters without a tree)
    counts: np.ndarray  # categories x languages
    row: str = "category"  # what a row is: "category", or "cluster" for a run without a tree


def cluster_sizes(con: duckdb.DuckDBPyConnection, run_id: str) -> list[int]:
    """Sizes of the run's clusters (noise and new queries left out), largest first."""
    rows = con.execute(
        "SELECT size FROM clusters WHERE run_id = ? AND cluster_id >= 0 ORDER BY size DESC",
        [run_id],
    ).fetchall()
    if not rows:
        raise NotFound(unknown_run(con, run_id))
    return [row[0] for row in rows]


def centroid_map(
    con: duckdb.DuckDBPyConnection, run_id: str, summary: str | None = None
) -> list[ClusterPoint]:
    """Each cluster's centroid projected to 2-D by PCA (two leading principal components
    of the centroids): near clusters are near on the map, as far as two axes can tell."""
    rows = con.execute(
        "SELECT cluster_id, centroid FROM clusters WHERE run_id = ? AND cluster_id >= 0 "
        "AND centroid IS NOT NULL ORDER BY cluster_id",
        [run_id],
    ).fetchall()
    if not rows:
        raise NotFound(f"no clustering run {run_id!r} with centroids")
    centroids = np.array([row[1] for row in rows], dtype=np.float64)
    centred = centroids - centroids.mean(axis=0)
    if len(rows) >= 2:
        _, _, axes = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ axes[:2].T
        if xy.shape[1] == 1:
            xy = np.hstack([xy, np.zeros((len(xy), 1))])
    else:
        xy = np.zeros((1, 2))
    info = {
        c.cluster_id: c
        for c in list_clusters(con, run_id, resolve_summary_run(con, run_id, summary))
    }
    return [
        ClusterPoint(
            cluster_id,
            info[cluster_id].title if cluster_id in info else f"cluster {cluster_id}",
            info[cluster_id].size if cluster_id in info else 0,
            round(float(x), 4),
            round(float(y), 4),
        )
        for (cluster_id, _), (x, y) in zip(rows, xy, strict=True)
    ]


def language_mix(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    hierarchy_run_id: str | None,
    summary: str | None = None,
    languages: int = 8,
    rows: int = 15,
) -> LanguageMix:
    """Queries per (top category, language): the top level of the hierarchy, or the
    largest clusters when the run has none; the `languages` most common, the rest "other"."""
    if hierarchy_run_id:
        groups = con.execute(
            """
            WITH RECURSIVE up(node_id, parent_id, cluster_id, top) AS (
                SELECT node_id, parent_id, cluster_id, node_id FROM hierarchy_nodes
                WHERE hierarchy_run_id = ? AND parent_id IS NULL
                UNION ALL
                SELECT n.node_id, n.parent_id, n.cluster_id, up.top FROM hierarchy_nodes n
                JOIN up ON n.parent_id = up.node_id WHERE n.hierarchy_run_id = ?
            )
            SELECT up.cluster_id, t.title FROM up JOIN hierarchy_nodes t
                ON t.hierarchy_run_id = ? AND t.node_id = up.top
            WHERE up.cluster_id IS NOT NULL
            """,
            [hierarchy_run_id, hierarchy_run_id, hierarchy_run_id],
        ).fetchall()
        group_of = {cluster: title or "(untitled)" for cluster, title in groups}
    else:
        clusters = list_clusters(con, run_id, resolve_summary_run(con, run_id, summary))[:rows]
        titles = [c.title for c in clusters]
        # A row per cluster: two that share a title stay two rows, told apart by their ids.
        group_of = {
            c.cluster_id: c.title if titles.count(c.title) == 1 else f"{c.title} ({c.cluster_id})"
            for c in clusters
        }
    counted = con.execute(
        "SELECT c.cluster_id, coalesce(q.language, ?), count(*) FROM query_clusters c "
        "JOIN queries q USING (query_id) WHERE c.run_id = ? GROUP BY ALL",
        [UNKNOWN, run_id],
    ).fetchall()
    totals: dict[str, int] = {}
    for _, language, n in counted:
        totals[language] = totals.get(language, 0) + n
    top = sorted(totals, key=lambda language: -totals[language])[:languages]
    columns = top + (["other"] if len(totals) > len(top) else [])
    categories = sorted(set(group_of.values()))
    counts = np.zeros((len(categories), len(columns)), dtype=np.int64)
    row_of = {title: i for i, title in enumerate(categories)}
    column_of = {language: i for i, language in enumerate(columns)}
    for cluster, language, n in counted:
        if cluster in group_of:
            counts[row_of[group_of[cluster]], column_of.get(language, len(columns) - 1)] += n
    # Largest first; noise (a group of negative cluster ids only) after the clusters.
    special = set(categories) - {title for cluster, title in group_of.items() if cluster >= 0}
    sizes = counts.sum(axis=1)
    order = sorted(range(len(categories)), key=lambda i: (categories[i] in special, -sizes[i]))
    order = order[:rows]
    row = "category" if hierarchy_run_id else "cluster"
    return LanguageMix(columns, [categories[i] for i in order], counts[order], row)


def share_text(count: int, total: int) -> str:
    """A share for a table cell: "·" for none, "<1%" for a few, else whole percent."""
    if count == 0:
        return "·"
    share = count / total if total else 0.0
    return "<1%" if share < 0.005 else f"{share:.0%}"
