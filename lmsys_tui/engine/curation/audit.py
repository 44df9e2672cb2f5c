"""The audit trail of a run's edits: one row per edit (when, what, why, the previous
value), the cleaning of the text an edit stores, and the tags edits put on clusters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from ...safe_text import strip_controls

MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 2_000
MAX_TAG_CHARS = 40
UNDO_REASON = "undo of edit {}"  # the reason of the edits an undo makes


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


def clean_text(text: str, what: str, limit: int) -> str:
    """An edit's text as stored: one line, no control characters, at most `limit`
    characters (longer is refused, not cut: the user should see what is kept)."""
    cleaned = " ".join(strip_controls(text).split())
    if len(cleaned) > limit:
        raise ValueError(f"a {what} is at most {limit:,} characters; this one has {len(cleaned):,}")
    return cleaned


def undone_id(edit: Edit) -> int | None:
    """The id of the edit that `edit` undoes, if it is part of an undo."""
    prefix = UNDO_REASON.format("")
    if edit.reason is None or not edit.reason.startswith(prefix):
        return None
    return int(edit.reason[len(prefix) :])


def record_edit(ws, run_id, action, target, previous, new, reason) -> int:
    reason = None if reason is None else clean_text(reason, "reason", MAX_DESCRIPTION_CHARS)
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


def list_edits(
    con, run_id: str, cluster_id: int | None = None, since: datetime | None = None
) -> list[Edit]:
    """A run's edits, oldest first; only those touching `cluster_id` (as target, source
    or result) and only those at or after `since` when given."""
    rows = con.execute(
        "SELECT edit_id, run_id, action, target, previous, new, reason, edited_at FROM edits "
        "WHERE run_id = ? AND (?::TIMESTAMP IS NULL OR edited_at >= ?::TIMESTAMP) "
        "ORDER BY edit_id",
        [run_id, since, since],
    ).fetchall()
    if cluster_id is not None:
        rows = [row for row in rows if _touches(cluster_id, row[3], row[4], row[5])]
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


def _touches(cluster_id: int, *documents: str | None) -> bool:
    """Does an edit's JSON name the cluster (as cluster_id, in cluster_ids, or as a
    move's source or a merge's sizes)?"""
    for document in documents:
        value = json.loads(document) if document else None
        if not isinstance(value, dict):
            continue
        if value.get("cluster_id") == cluster_id or cluster_id in value.get("cluster_ids", []):
            return True
        moved_from = value.get("clusters", {}).values()  # a move: query id -> its old cluster
        merged = value.get("sizes", {})  # a merge: cluster id -> its size
        if cluster_id in moved_from or str(cluster_id) in merged:
            return True
    return False


def cluster_tags(con, run_id: str) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = {}
    for cluster_id, tag in con.execute(
        "SELECT cluster_id, tag FROM cluster_tags WHERE run_id = ? ORDER BY cluster_id, tag",
        [run_id],
    ).fetchall():
        tags.setdefault(cluster_id, []).append(tag)
    return tags
