"""edit rename|move|merge|split|delete|tag|undo, and audit: curation with an audit trail."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text

from ..engine.browse import get_run
from ..engine.curation.audit import list_edits
from ..engine.curation.edits import (
    delete_cluster,
    merge_clusters,
    move_queries,
    rename_cluster,
    split_cluster,
    tag_cluster,
)
from ..engine.curation.undo import undo_last_edit
from ..engine.retrieval.search import SearchError
from ..safe_text import one_line


def _ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SearchError(f"expected comma-separated integers, got {text!r}") from None
    if not ids:
        raise SearchError("expected at least one id")
    return ids


def edit(ws, out, args) -> int:
    if args.action == "undo":
        ids = undo_last_edit(ws, args.run_id)  # ValueError: one line, exit 2
        recorded = [e for e in list_edits(ws.con, args.run_id) if e.edit_id in ids]
        return out.emit(
            {"run_id": args.run_id, "edits": recorded},
            lambda: Text(f"undone as edit {', '.join(map(str, ids))} in {args.run_id}"),
        )
    if args.action == "rename":
        edit_id = rename_cluster(
            ws,
            args.run_id,
            args.cluster_id,
            args.title,
            args.description,
            args.summary,
            args.reason,
        )
    elif args.action == "move":
        edit_id = move_queries(ws, args.run_id, _ids(args.query_ids), args.to, args.reason)
    elif args.action == "merge":
        edit_id = merge_clusters(
            ws, args.run_id, _ids(args.clusters), args.title, args.reason, args.into
        )
    elif args.action == "split":
        edit_id = split_cluster(ws, args.run_id, args.cluster_id, args.k, args.seed, args.reason)
    elif args.action == "delete":
        edit_id = delete_cluster(ws, args.run_id, args.cluster_id, args.reason)
    else:
        edit_id = tag_cluster(ws, args.run_id, args.cluster_id, args.tag, args.note, args.reason)
    recorded = list_edits(ws.con, args.run_id)
    done = next(e for e in recorded if e.edit_id == edit_id)
    return out.emit(
        done,
        lambda: Text(
            f"edit {edit_id}: {args.action} in {args.run_id} recorded (lmsys-tui audit shows it)"
        ),
    )


def _since(text: str | None):
    from datetime import datetime

    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise SearchError(
            f"--since takes a date or time such as 2026-12-01, got {text!r}"
        ) from None


def audit(ws, out, args) -> int:
    get_run(ws.con, args.run_id)
    edits = list_edits(ws.con, args.run_id, args.cluster, _since(args.since))

    def render():
        if not edits:
            scope = "" if args.cluster is None else f" touching cluster {args.cluster}"
            since = "" if args.since is None else f" since {args.since}"
            return Text(f"run {args.run_id} has no edits{scope}{since}")
        shown = Table("edit", "when", "action", "target", "previous", "new", "reason")
        for e in edits:
            shown.add_row(
                str(e.edit_id),
                f"{e.edited_at:%Y-%m-%d %H:%M:%S}",
                e.action,
                Text(json.dumps(e.target, ensure_ascii=False)),
                Text(one_line(json.dumps(e.previous, ensure_ascii=False), 60)),
                Text(one_line(json.dumps(e.new, ensure_ascii=False), 60)),
                Text(one_line(e.reason, 40)),
            )
        return shown

    return out.emit({"run_id": args.run_id, "edits": edits}, render)
