"""Undo of a run's newest edit, as new audited edits: a rename, tag or move is made
again with the previous value, a split's parts merge back, and a merge or delete puts
back the clusters it removed from what it kept."""

from __future__ import annotations

import json

import numpy as np

from ..progress import null_sink
from ..store import transaction
from ..workspace import Workspace
from .audit import UNDO_REASON, Edit, list_edits, record_edit, undone_id
from .edits import (
    NOISE,
    check_run,
    cluster_size,
    count_clusters,
    merge_clusters,
    move_queries,
    recompute,
    refresh_summary_indexes,
    rename_cluster,
    resize_noise,
    summary_runs_of,
    tag_cluster,
    write_names,
)


def undo_last_edit(ws: Workspace, run_id: str) -> list[int]:
    """Reverse the run's newest edit that is not an undo and not undone yet, as new
    audited edits (reason "undo of edit N"); return their ids.

    Raises:
        ValueError: nothing to undo, or an edit that cannot be put back (see _put_back).
    """
    check_run(ws, run_id)
    return undo_edit(ws, run_id, edit_to_undo(ws.con, run_id))


def undo_edit(ws: Workspace, run_id: str, last: Edit) -> list[int]:
    """Reverse `last`, the edit `edit_to_undo` found in a run `check_run` passed (the TUI
    reads it first, to say which edit it undid). All or nothing: an undo made of several
    edits (a move from two clusters, a split's merge and its names) that stopped half-way
    would leave `last` counted as undone, and the next undo would reverse an older edit."""
    with transaction(ws.con):
        return _undo(ws, run_id, last)


def _undo(ws: Workspace, run_id: str, last: Edit) -> list[int]:
    reason = UNDO_REASON.format(last.edit_id)
    if last.action == "rename":
        if last.previous is None:
            raise ValueError(f"edit {last.edit_id} named a cluster that had no title before")
        renamed = rename_cluster(
            ws,
            run_id,
            last.target["cluster_id"],
            last.previous["title"] or f"cluster {last.target['cluster_id']}",
            last.previous.get("description"),
            last.target["summary_run_id"],
            reason,
        )
        merge_id = last.target.get("merge_edit_id")  # the title of a `merge --title`
        if merge_id is None:
            return [renamed]
        (merge,) = [e for e in list_edits(ws.con, run_id) if e.edit_id == merge_id]
        return [renamed, _put_back(ws, run_id, merge, UNDO_REASON.format(merge_id))]
    if last.action == "tag":
        cluster_id, tag = last.target["cluster_id"], last.new["tag"]
        if last.previous is not None:
            return [tag_cluster(ws, run_id, cluster_id, tag, last.previous["note"], reason)]
        with transaction(ws.con):
            ws.con.execute(
                "DELETE FROM cluster_tags WHERE run_id = ? AND cluster_id = ? AND tag = ?",
                [run_id, cluster_id, tag],
            )
            return [
                record_edit(ws, run_id, "untag", {"cluster_id": cluster_id}, last.new, None, reason)
            ]
    if last.action == "move":
        back: dict[int, list[int]] = {}
        for query_id, cluster_id in last.previous["clusters"].items():
            back.setdefault(int(cluster_id), []).append(int(query_id))
        return [move_queries(ws, run_id, ids, to, reason) for to, ids in sorted(back.items())]
    if last.action == "split":  # its parts merged back into the cluster that kept the id
        whole = last.target["cluster_id"]
        parts = [c for c in last.new["cluster_ids"] if c != whole]
        merged = merge_clusters(
            ws, run_id, [whole, *parts], reason=reason, into=whole, name_again=False
        )
        _put_back_split_names(ws, run_id, whole, last.previous.get("names", {}))
        return [merged]
    if last.action in ("merge", "delete"):
        return [_put_back(ws, run_id, last, reason)]
    raise ValueError(f"edit {last.edit_id} ({last.action}) cannot be undone")


def edit_to_undo(con, run_id: str) -> Edit:
    """The run's newest edit that is not an undo and not undone yet.

    Raises:
        ValueError: there is none.
    """
    edits = list_edits(con, run_id)
    undone = {undone_id(e) for e in edits}
    candidates = [e for e in edits if undone_id(e) is None and e.edit_id not in undone]
    if not candidates:
        raise ValueError(f"run {run_id} has no edit to undo")
    return max(candidates, key=lambda e: e.edit_id)


def _put_back(ws: Workspace, run_id: str, edit: Edit, reason: str) -> int:
    """Undo a merge or delete: the clusters it removed come back with the members that
    are still where it put them, their near-copy marks, names, leaves and tags.

    Raises:
        ValueError: the edit kept nothing (an older version made it), or a summary or
            hierarchy run was made after it (it would have no names or leaves for them).
    """
    from ..clustering.runs import mark_duplicates

    space_id = check_run(ws, run_id)
    refused = f"edit {edit.edit_id} ({edit.action}) cannot be undone"
    removed = ws.con.execute(
        "SELECT cluster_id, query_ids, near_copies, names, leaves, tags FROM removed_clusters "
        "WHERE edit_id = ? ORDER BY cluster_id",
        [edit.edit_id],
    ).fetchall()
    if not removed:
        raise ValueError(
            f"{refused}: an older lmsys-tui made it and did not keep the clusters it removed"
        )
    later = ws.con.execute(
        "SELECT what, id FROM (SELECT 'summary run' AS what, summary_run_id AS id, created_at "
        "FROM summary_runs WHERE run_id = ? UNION ALL SELECT 'hierarchy run', "
        "hierarchy_run_id, created_at FROM hierarchy_runs WHERE run_id = ?) "
        "WHERE created_at > ? ORDER BY created_at LIMIT 1",
        [run_id, run_id, edit.edited_at],
    ).fetchall()
    if later:
        what, made = later[0]
        raise ValueError(
            f"{refused}: {what} {made} was made after it, without the clusters it removed "
            "(delete that run first, or split instead)"
        )
    cluster_ids = [row[0] for row in removed]
    taken = ws.con.execute(
        "SELECT min(cluster_id) FROM clusters WHERE run_id = ? "
        "AND cluster_id IN (SELECT unnest(?::INTEGER[]))",
        [run_id, cluster_ids],
    ).fetchall()[0][0]
    if taken is not None:
        raise ValueError(f"{refused}: the run has a cluster {taken} again")
    source = NOISE if edit.action == "delete" else edit.new["cluster_id"]
    with transaction(ws.con):
        for cluster_id, query_ids, near_copies, names, leaves, tags in removed:
            ws.con.execute("INSERT INTO clusters VALUES (?, ?, 0, NULL)", [run_id, cluster_id])
            ws.con.execute(
                "UPDATE query_clusters SET cluster_id = ?, probability = NULL WHERE run_id = ? "
                "AND cluster_id = ? AND query_id IN (SELECT unnest(?::BIGINT[]))",
                [cluster_id, run_id, source, query_ids],
            )
            _put_back_names(ws, run_id, cluster_id, json.loads(names), json.loads(leaves))
            for tag in json.loads(tags):
                ws.con.execute(
                    "INSERT OR REPLACE INTO cluster_tags VALUES (?, ?, ?, ?, now()::TIMESTAMP)",
                    [run_id, cluster_id, tag["tag"], tag["note"]],
                )
            _put_back_near_copies(ws, run_id, cluster_id, query_ids, json.loads(near_copies))
        for summary_run_id, name in (edit.previous or {}).get("names", {}).items():
            write_names(ws, summary_run_id, source, name)  # a merge named its whole again
        if source == NOISE:
            resize_noise(ws, run_id)
            recompute(ws, run_id, space_id, cluster_ids)
        else:
            recompute(ws, run_id, space_id, [source, *cluster_ids])
        mark_duplicates(ws, run_id, space_id, null_sink, new_ids=np.zeros(0, np.int64))
        count_clusters(ws, run_id)
        edit_id = record_edit(
            ws,
            run_id,
            "restore",
            {"cluster_ids": cluster_ids},
            {"cluster_id": source},
            {"sizes": {str(c): cluster_size(ws, run_id, c) for c in cluster_ids}},
            reason,
        )
    refresh_summary_indexes(ws, summary_runs_of(ws, run_id))
    return edit_id


def _put_back_split_names(ws: Workspace, run_id: str, cluster_id: int, names: dict) -> None:
    """The names a split's key phrases replaced on the part that kept the id (their counts
    written again for the whole)."""
    from ..naming.counts import refresh_counts

    if not names:
        return
    with transaction(ws.con):
        for summary_run_id, name in names.items():
            write_names(ws, summary_run_id, cluster_id, name)
        refresh_counts(ws, run_id, [cluster_id])
    refresh_summary_indexes(ws, list(names))


def _put_back_names(ws: Workspace, run_id: str, cluster_id: int, names: list, leaves: list):
    """A restored cluster's titles in the summary runs and leaves in the hierarchies that
    are still there."""
    for name in names:
        ws.con.execute(
            "INSERT INTO cluster_summaries (summary_run_id, cluster_id, title, description, "
            "keywords, representative_ids, error, created_at) SELECT ?, ?, ?, ?, ?, ?, ?, "
            "now()::TIMESTAMP WHERE ? IN (SELECT summary_run_id FROM summary_runs "
            "WHERE run_id = ?)",
            [
                name["summary_run_id"],
                cluster_id,
                name["title"],
                name["description"],
                name["keywords"],
                name["representative_ids"],
                name["error"],
                name["summary_run_id"],
                run_id,
            ],
        )
    for leaf in leaves:
        ws.con.execute(
            "INSERT INTO hierarchy_nodes SELECT ?, ?, 0, ?, ?, ?, ?, 0 WHERE ? IN "
            "(SELECT hierarchy_run_id FROM hierarchy_runs WHERE run_id = ?)",
            [
                leaf["hierarchy_run_id"],
                leaf["node_id"],
                leaf["parent_id"],
                cluster_id,
                leaf["title"],
                leaf["description"],
                leaf["hierarchy_run_id"],
                run_id,
            ],
        )


def _put_back_near_copies(ws, run_id, cluster_id, query_ids, near_copies: dict) -> None:
    """The near-copy marks the cluster's members had before the edit: a merge marked some
    against the cluster they joined. Exact marks are found again run-wide afterwards."""
    ws.con.execute(
        "DELETE FROM duplicates WHERE run_id = ? AND query_id IN (SELECT unnest(?::BIGINT[])) "
        "AND (kind = 'near' OR query_id IN (SELECT unnest(?::BIGINT[])))",
        [run_id, query_ids, [int(q) for q in near_copies]],
    )
    ws.con.execute(
        "INSERT INTO duplicates SELECT ?, m.query_id, m.canonical_id, 'near' FROM "
        "(SELECT unnest(?::BIGINT[]) AS query_id, unnest(?::BIGINT[]) AS canonical_id) m "
        "JOIN query_clusters c ON c.run_id = ? AND c.query_id = m.query_id "
        "AND c.cluster_id = ?",
        [
            run_id,
            [int(q) for q in near_copies],
            list(near_copies.values()),
            run_id,
            cluster_id,
        ],
    )
