"""Curation of a clustering run: rename, move, merge, tag, each with an audit row.

An edit changes the run in place, in one transaction with its audit row (when, what, why,
the previous value) and the run's `edited_at`. What depends on it is recomputed: cluster
sizes and centroids, members' distances, hierarchy node sizes. Summary indexes notice
renamed titles by their fingerprint and rebuild on next use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from .browse import NotFound, resolve_summary_run
from .store import transaction
from .workspace import Workspace


@dataclass
class Edit:
    edit_id: int
    run_id: str
    action: str
    target: dict
    previous: dict | None
    new: dict | None
    reason: str | None
    edited_at: datetime


def _check_run(ws: Workspace, run_id: str) -> str:
    rows = ws.con.execute(
        "SELECT space_id FROM clustering_runs WHERE run_id = ? AND status = 'complete'",
        [run_id],
    ).fetchall()
    if not rows:
        raise NotFound(f"no clustering run {run_id!r}")
    return rows[0][0]


def _check_clusters(ws: Workspace, run_id: str, cluster_ids: list[int]) -> None:
    known = {
        row[0]
        for row in ws.con.execute(
            "SELECT cluster_id FROM clusters WHERE run_id = ?", [run_id]
        ).fetchall()
    }
    for cluster_id in cluster_ids:
        if cluster_id not in known:
            raise NotFound(f"run {run_id} has no cluster {cluster_id}")


def _audit(ws, run_id, action, target, previous, new, reason) -> int:
    edit_id = ws.con.execute("SELECT coalesce(max(edit_id), 0) + 1 FROM edits").fetchall()[0][0]
    ws.con.execute(
        "INSERT INTO edits VALUES (?, ?, ?, ?::JSON, ?::JSON, ?::JSON, ?, now()::TIMESTAMP)",
        [
            edit_id,
            run_id,
            action,
            json.dumps(target),
            None if previous is None else json.dumps(previous),
            None if new is None else json.dumps(new),
            reason,
        ],
    )
    ws.con.execute(
        "UPDATE clustering_runs SET edited_at = now()::TIMESTAMP WHERE run_id = ?", [run_id]
    )
    return edit_id


def rename_cluster(
    ws: Workspace,
    run_id: str,
    cluster_id: int,
    title: str,
    description: str | None = None,
    summary: str | None = None,
    reason: str | None = None,
) -> int:
    """Give a cluster a new title (and description) in a summary run (default: newest)."""
    _check_run(ws, run_id)
    _check_clusters(ws, run_id, [cluster_id])
    summary_run_id = resolve_summary_run(ws.con, run_id, summary)
    if summary_run_id is None:
        raise NotFound(f"run {run_id} has no summaries to rename: run a summarize step first")
    title = " ".join(title.split())
    if not title:
        raise ValueError("a title cannot be empty")
    rows = ws.con.execute(
        "SELECT title, description FROM cluster_summaries "
        "WHERE summary_run_id = ? AND cluster_id = ?",
        [summary_run_id, cluster_id],
    ).fetchall()
    previous = {"title": rows[0][0], "description": rows[0][1]} if rows else None
    new = {
        "title": title,
        "description": description
        if description is not None
        else (previous["description"] if previous else None),
    }
    with transaction(ws.con):
        ws.con.execute(
            "INSERT OR REPLACE INTO cluster_summaries "
            "(summary_run_id, cluster_id, title, description, keywords, representative_ids, "
            "error, created_at) SELECT ?, ?, ?, ?, "
            "coalesce(keywords, []), coalesce(representative_ids, []), NULL, now()::TIMESTAMP "
            "FROM (SELECT 1) LEFT JOIN cluster_summaries "
            "ON summary_run_id = ? AND cluster_id = ?",
            [
                summary_run_id,
                cluster_id,
                new["title"],
                new["description"],
                summary_run_id,
                cluster_id,
            ],
        )
        edit_id = _audit(
            ws,
            run_id,
            "rename",
            {"cluster_id": cluster_id, "summary_run_id": summary_run_id},
            previous,
            new,
            reason,
        )
    _refresh_summary_indexes(ws, [summary_run_id])
    return edit_id


def tag_cluster(
    ws: Workspace,
    run_id: str,
    cluster_id: int,
    tag: str,
    note: str | None = None,
    reason: str | None = None,
) -> int:
    """Tag a cluster (good, bad, pii, or any word); tagging again replaces the note."""
    _check_run(ws, run_id)
    _check_clusters(ws, run_id, [cluster_id])
    tag = tag.strip().lower()
    if not tag:
        raise ValueError("a tag cannot be empty")
    rows = ws.con.execute(
        "SELECT note FROM cluster_tags WHERE run_id = ? AND cluster_id = ? AND tag = ?",
        [run_id, cluster_id, tag],
    ).fetchall()
    previous = {"tag": tag, "note": rows[0][0]} if rows else None
    with transaction(ws.con):
        ws.con.execute(
            "INSERT OR REPLACE INTO cluster_tags VALUES (?, ?, ?, ?, now()::TIMESTAMP)",
            [run_id, cluster_id, tag, note],
        )
        return _audit(
            ws,
            run_id,
            "tag",
            {"cluster_id": cluster_id},
            previous,
            {"tag": tag, "note": note},
            reason,
        )


def move_queries(
    ws: Workspace,
    run_id: str,
    query_ids: list[int],
    to_cluster: int,
    reason: str | None = None,
) -> int:
    """Move queries into another cluster of the run."""
    space_id = _check_run(ws, run_id)
    _check_clusters(ws, run_id, [to_cluster])
    query_ids = sorted(set(query_ids))
    rows = ws.con.execute(
        "SELECT query_id, cluster_id FROM query_clusters WHERE run_id = ? "
        "AND query_id IN (SELECT unnest(?::BIGINT[]))",
        [run_id, query_ids],
    ).fetchall()
    found = dict(rows)
    missing = [q for q in query_ids if q not in found]
    if missing:
        raise NotFound(f"run {run_id} has no query {missing[0]}")
    previous = {str(q): found[q] for q in query_ids}
    touched = sorted(set(found.values()) | {to_cluster})
    with transaction(ws.con):
        ws.con.execute(
            "UPDATE query_clusters SET cluster_id = ?, probability = NULL WHERE run_id = ? "
            "AND query_id IN (SELECT unnest(?::BIGINT[]))",
            [to_cluster, run_id, query_ids],
        )
        _recompute(ws, run_id, space_id, touched)
        return _audit(
            ws,
            run_id,
            "move",
            {"query_ids": query_ids},
            {"clusters": previous},
            {"cluster_id": to_cluster},
            reason,
        )


def merge_clusters(
    ws: Workspace,
    run_id: str,
    cluster_ids: list[int],
    title: str | None = None,
    reason: str | None = None,
) -> int:
    """Merge clusters into the first one named; the others disappear from the run."""
    space_id = _check_run(ws, run_id)
    cluster_ids = list(dict.fromkeys(cluster_ids))
    if len(cluster_ids) < 2:
        raise ValueError("merge needs at least two cluster ids")
    _check_clusters(ws, run_id, cluster_ids)
    into, others = cluster_ids[0], cluster_ids[1:]
    sizes = dict(
        ws.con.execute(
            "SELECT cluster_id, size FROM clusters WHERE run_id = ? "
            "AND cluster_id IN (SELECT unnest(?::INTEGER[]))",
            [run_id, cluster_ids],
        ).fetchall()
    )
    with transaction(ws.con):
        ws.con.execute(
            "UPDATE query_clusters SET cluster_id = ?, probability = NULL WHERE run_id = ? "
            "AND cluster_id IN (SELECT unnest(?::INTEGER[]))",
            [into, run_id, others],
        )
        ws.con.execute(
            "DELETE FROM clusters WHERE run_id = ? AND cluster_id IN (SELECT unnest(?::INTEGER[]))",
            [run_id, others],
        )
        _drop_from_summaries_and_hierarchies(ws, run_id, others)
        _recompute(ws, run_id, space_id, [into])
        ws.con.execute(
            "UPDATE clustering_runs SET n_clusters = (SELECT count(*) FROM clusters "
            "WHERE run_id = ?) WHERE run_id = ?",
            [run_id, run_id],
        )
        edit_id = _audit(
            ws,
            run_id,
            "merge",
            {"cluster_ids": cluster_ids},
            {"sizes": {str(k): v for k, v in sizes.items()}},
            {"cluster_id": into},
            reason,
        )
    if title:
        rename_cluster(ws, run_id, into, title, reason=reason or "merge")
    else:
        summary_run_ids = [
            row[0]
            for row in ws.con.execute(
                "SELECT summary_run_id FROM summary_runs WHERE run_id = ?", [run_id]
            ).fetchall()
        ]
        _refresh_summary_indexes(ws, summary_run_ids)
    return edit_id


def _refresh_summary_indexes(ws: Workspace, summary_run_ids: list[str]) -> None:
    """Re-embed changed summaries now, so searches and verify agree with the edit."""
    from .index import update_summary_index

    for summary_run_id in summary_run_ids:
        update_summary_index(ws, summary_run_id)


def _drop_from_summaries_and_hierarchies(ws: Workspace, run_id: str, cluster_ids: list[int]):
    ws.con.execute(
        "DELETE FROM cluster_summaries WHERE cluster_id IN (SELECT unnest(?::INTEGER[])) "
        "AND summary_run_id IN (SELECT summary_run_id FROM summary_runs WHERE run_id = ?)",
        [cluster_ids, run_id],
    )
    ws.con.execute(
        "DELETE FROM hierarchy_nodes WHERE level = 0 AND cluster_id IN "
        "(SELECT unnest(?::INTEGER[])) AND hierarchy_run_id IN "
        "(SELECT hierarchy_run_id FROM hierarchy_runs WHERE run_id = ?)",
        [cluster_ids, run_id],
    )


def _recompute(ws: Workspace, run_id: str, space_id: str, cluster_ids: list[int]) -> None:
    """Sizes, centroids and member distances of the clusters; hierarchy node sizes."""
    from .clustering import centroids_of

    members = ws.con.execute(
        "SELECT c.query_id, c.cluster_id, e.row_index FROM query_clusters c "
        "JOIN embeddings e ON e.query_id = c.query_id AND e.space_id = ? "
        "WHERE c.run_id = ? AND c.cluster_id IN (SELECT unnest(?::INTEGER[]))",
        [space_id, run_id, cluster_ids],
    ).fetchnumpy()
    vectors = ws.vector_file(space_id).array()
    for cluster_id in cluster_ids:
        chosen = members["cluster_id"] == cluster_id
        rows = np.sort(members["row_index"][chosen])
        if len(rows) == 0:
            ws.con.execute(
                "UPDATE clusters SET size = 0 WHERE run_id = ? AND cluster_id = ?",
                [run_id, cluster_id],
            )
            continue
        matrix = np.asarray(vectors[rows], dtype=np.float32)
        _, centroids, _ = centroids_of(matrix, np.zeros(len(rows), dtype=np.int64))
        centroid = centroids[0]
        order = np.argsort(members["row_index"][chosen])
        query_ids = members["query_id"][chosen][order]
        distances = 1.0 - matrix @ centroid
        ws.con.execute(
            "UPDATE clusters SET size = ?, centroid = ?::FLOAT[] WHERE run_id = ? "
            "AND cluster_id = ?",
            [len(rows), centroid.tolist(), run_id, cluster_id],
        )
        ws.con.register(
            "edited_distances",
            pa.table({"query_id": query_ids, "distance": distances.astype(np.float32)}),
        )
        try:
            ws.con.execute(
                "UPDATE query_clusters SET distance = d.distance FROM edited_distances d "
                "WHERE query_clusters.run_id = ? AND query_clusters.query_id = d.query_id",
                [run_id],
            )
        finally:
            ws.con.unregister("edited_distances")
    _resize_hierarchies(ws, run_id)


def _resize_hierarchies(ws: Workspace, run_id: str) -> None:
    """Leaf sizes from the clusters, then each level's sizes from the level below."""
    hierarchies = ws.con.execute(
        "SELECT hierarchy_run_id, max_level FROM (SELECT h.hierarchy_run_id, max(n.level) "
        "AS max_level FROM hierarchy_runs h JOIN hierarchy_nodes n USING (hierarchy_run_id) "
        "WHERE h.run_id = ? GROUP BY ALL)",
        [run_id],
    ).fetchall()
    for hierarchy_run_id, max_level in hierarchies:
        ws.con.execute(
            "UPDATE hierarchy_nodes SET size = c.size FROM clusters c WHERE c.run_id = ? "
            "AND c.cluster_id = hierarchy_nodes.cluster_id "
            "AND hierarchy_nodes.hierarchy_run_id = ? AND hierarchy_nodes.level = 0",
            [run_id, hierarchy_run_id],
        )
        for level in range(1, max_level + 1):
            ws.con.execute(
                """
                UPDATE hierarchy_nodes SET size = coalesce((
                    SELECT sum(child.size) FROM hierarchy_nodes child
                    WHERE child.hierarchy_run_id = hierarchy_nodes.hierarchy_run_id
                        AND child.parent_id = hierarchy_nodes.node_id), 0)
                WHERE hierarchy_run_id = ? AND level = ?
                """,
                [hierarchy_run_id, level],
            )


UNDO_REASON = "undo of edit {}"


def undo_last_edit(ws: Workspace, run_id: str) -> list[int]:
    """Reverse the run's newest edit that is not an undo and not undone yet, as new
    audited edits (reason "undo of edit N"); return their ids.

    Raises:
        ValueError: nothing to undo, or a merge (its clusters' summaries are gone).
    """
    _check_run(ws, run_id)
    edits = list_edits(ws.con, run_id)
    undone = {
        int(e.reason.rsplit(" ", 1)[1])
        for e in edits
        if e.reason and e.reason.startswith(UNDO_REASON.format(""))
    }
    candidates = [
        e
        for e in edits
        if e.edit_id not in undone
        and not (e.reason and e.reason.startswith(UNDO_REASON.format("")))
    ]
    if not candidates:
        raise ValueError(f"run {run_id} has no edit to undo")
    last = max(candidates, key=lambda e: e.edit_id)
    reason = UNDO_REASON.format(last.edit_id)
    if last.action == "rename":
        if last.previous is None:
            raise ValueError(f"edit {last.edit_id} named a cluster that had no title before")
        return [
            rename_cluster(
                ws,
                run_id,
                last.target["cluster_id"],
                last.previous["title"] or f"cluster {last.target['cluster_id']}",
                last.previous.get("description"),
                last.target["summary_run_id"],
                reason,
            )
        ]
    if last.action == "tag":
        cluster_id, tag = last.target["cluster_id"], last.new["tag"]
        if last.previous is not None:
            return [tag_cluster(ws, run_id, cluster_id, tag, last.previous["note"], reason)]
        with transaction(ws.con):
            ws.con.execute(
                "DELETE FROM cluster_tags WHERE run_id = ? AND cluster_id = ? AND tag = ?",
                [run_id, cluster_id, tag],
            )
            return [_audit(ws, run_id, "untag", {"cluster_id": cluster_id}, last.new, None, reason)]
    if last.action == "move":
        back: dict[int, list[int]] = {}
        for query_id, cluster_id in last.previous["clusters"].items():
            back.setdefault(int(cluster_id), []).append(int(query_id))
        return [move_queries(ws, run_id, ids, to, reason) for to, ids in sorted(back.items())]
    raise ValueError(
        f"edit {last.edit_id} ({last.action}) cannot be undone: merged clusters lost their "
        "summaries; split or re-cluster instead"
    )


def list_edits(con, run_id: str) -> list[Edit]:
    rows = con.execute(
        "SELECT edit_id, run_id, action, target, previous, new, reason, edited_at FROM edits "
        "WHERE run_id = ? ORDER BY edit_id",
        [run_id],
    ).fetchall()
    return [
        Edit(
            edit_id,
            run,
            action,
            json.loads(target),
            json.loads(previous) if previous else None,
            json.loads(new) if new else None,
            reason,
            edited_at,
        )
        for edit_id, run, action, target, previous, new, reason, edited_at in rows
    ]


def cluster_tags(con, run_id: str) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = {}
    for cluster_id, tag in con.execute(
        "SELECT cluster_id, tag FROM cluster_tags WHERE run_id = ? ORDER BY cluster_id, tag",
        [run_id],
    ).fetchall():
        tags.setdefault(cluster_id, []).append(tag)
    return tags
