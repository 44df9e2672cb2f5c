"""`lmsys-tui status`: the workspace's contents as tables or one JSON document (what
`lmsys-tui` prints when it has no terminal to open the TUI on)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from .agent.output import stdout_console
from .engine import DATABASE_FILE
from .engine.errors import LmsysError
from .engine.workspace import bytes_on_disk, open_workspace
from .safe_text import Sanitized


def workspace_status(data_dir: Path) -> dict:
    """Counts of queries per source, embedding spaces and clustering runs (newest first, as
    `runs` lists them), and the room the workspace takes on disk."""
    with open_workspace(data_dir, read_only=True) as ws:
        con = ws.con
        sources = con.execute(
            "SELECT source, count(*) FROM queries GROUP BY source ORDER BY source"
        ).fetchall()
        spaces = con.execute(
            "SELECT space_id, model, dim, n_vectors FROM embedding_spaces ORDER BY space_id"
        ).fetchall()
        runs = con.execute(
            "SELECT run_id, algorithm, space_id, n_queries, n_clusters, metrics "
            "FROM clustering_runs WHERE status = 'complete' ORDER BY created_at DESC, run_id DESC"
        ).fetchall()
        summaries = con.execute(
            """
            SELECT r.summary_run_id, r.run_id, r.alias, r.model,
                   count(s.cluster_id) FILTER (s.error IS NULL),
                   count(s.cluster_id) FILTER (s.error IS NOT NULL)
            FROM summary_runs r LEFT JOIN cluster_summaries s USING (summary_run_id)
            GROUP BY r.summary_run_id, r.run_id, r.alias, r.model, r.created_at
            ORDER BY r.created_at DESC, r.summary_run_id DESC
            """
        ).fetchall()
        hierarchies = con.execute(
            """
            SELECT h.hierarchy_run_id, h.summary_run_id, h.model,
                   list(n.nodes ORDER BY n.level)
            FROM hierarchy_runs h
            JOIN (SELECT hierarchy_run_id, level, count(*) AS nodes FROM hierarchy_nodes
                  GROUP BY ALL) n USING (hierarchy_run_id)
            GROUP BY h.hierarchy_run_id, h.summary_run_id, h.model, h.created_at
            ORDER BY h.created_at DESC, h.hierarchy_run_id DESC
            """
        ).fetchall()
    return {
        "data_dir": str(data_dir),
        "disk": disk_use(Path(data_dir)),
        "sources": [{"source": s, "queries": n} for s, n in sources],
        "spaces": [{"space_id": s, "model": m, "dim": d, "vectors": n} for s, m, d, n in spaces],
        "runs": [
            {
                "run_id": r,
                "algorithm": a,
                "space_id": s,
                "queries": q,
                "clusters": k,
                "silhouette": json.loads(m).get("silhouette"),
            }
            for r, a, s, q, k, m in runs
        ],
        "summary_runs": [
            {"summary_run_id": i, "run_id": r, "alias": a, "model": m, "clusters": n, "failed": f}
            for i, r, a, m, n, f in summaries
        ],
        "hierarchies": [
            {"hierarchy_run_id": i, "summary_run_id": s, "model": m, "nodes_by_level": n}
            for i, s, m, n in hierarchies
        ],
    }


# What takes room in a workspace, by part: at 1M prompts the vectors of one 384-d space
# are ~0.8 GB, so a person deciding what to delete (delete-run, a second space) sees where.
DISK_PARTS = {
    "database": [DATABASE_FILE, f"{DATABASE_FILE}.wal"],
    "vectors": ["vectors"],
    "indexes": ["index"],
    "models": ["models"],  # query encoders exported for fast searches
    "tmp": ["tmp"],  # a cut-off JSON array's copy while a load reads it; Ray shards
}


def disk_use(root: Path) -> dict[str, int]:
    """Bytes per part of the workspace, and in all ("total")."""
    use = {
        part: sum(bytes_on_disk(root / name) for name in names)
        for part, names in DISK_PARTS.items()
    }
    use["total"] = bytes_on_disk(root)
    return use


def _cell(value) -> str:
    if isinstance(value, list):
        return " -> ".join(map(_cell, value))  # nodes by level
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"  # counts: 999,672 as every other screen writes them
    return "-" if value is None else str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def print_status(data_dir: Path, as_json: bool) -> int:
    console = stdout_console()
    try:
        status = workspace_status(data_dir)
    except LmsysError as error:
        if as_json:
            print(json.dumps({"error": str(error)}))
        Console(stderr=True).print(f"error: {error}", markup=False, highlight=False)
        return 2
    if as_json:
        print(json.dumps(status, indent=2))
        return 0
    console.print(f"workspace {data_dir}", markup=False, highlight=False)
    disk = status["disk"]
    parts = ", ".join(f"{part} {decimal(disk[part])}" for part in DISK_PARTS)
    console.print(f"disk: {parts}; {decimal(disk['total'])} in all", markup=False, highlight=False)
    for title, rows in (
        ("Sources", status["sources"]),
        ("Embedding spaces", status["spaces"]),
        ("Clustering runs", status["runs"]),
        ("Summary runs", status["summary_runs"]),
        ("Hierarchies", status["hierarchies"]),
    ):
        if not rows:  # a title over an empty table wraps to its width ("Hierarchie / s")
            console.print(f"{title}: none", markup=False, highlight=False)
            continue
        table = Table(title=title, title_justify="left")
        for column in rows[0]:
            numbers = all(_is_number(row[column]) or row[column] is None for row in rows)
            table.add_column(column, justify="right" if numbers else "left")
        for row in rows:
            table.add_row(*(Text(_cell(value)) for value in row.values()))  # data, not markup
        console.print(Sanitized(table))
    console.print(
        "Run lmsys-tui on a terminal for the interactive screens.", style="dim", markup=False
    )
    return 0
