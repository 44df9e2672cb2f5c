"""Deleting a clustering run with everything made from it: names, hierarchies, edits.

Trying k = 50, 200 and 1,000 leaves runs nobody will open again, each holding a row per
query; deleting one is the only edit that is not audited, since its audit trail goes too.
The queries, their vectors and indexes stay: other runs and later jobs use them.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field

from .browse import NotFound
from .retrieval.index import summary_index_path
from .store import transaction
from .workspace import Workspace

# Tables keyed by run_id, children first. Summary and hierarchy rows go by their own ids.
RUN_TABLES = (
    "hierarchy_runs",
    "summary_runs",
    "duplicates",
    "cluster_tags",
    "edits",
    "assignments",
    "clusters",
    "query_clusters",
    "clustering_runs",
)


@dataclass
class RunContents:
    """What deleting a run takes with it (what a confirmation names)."""

    run_id: str
    n_clusters: int
    n_queries: int
    summary_runs: list[str] = field(default_factory=list)
    hierarchy_runs: list[str] = field(default_factory=list)
    edits: int = 0
    assigned: int = 0  # queries put into the run later by [assign]

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One line: "50 clusters of 9,434 queries, 2 summary runs, 1 hierarchy, 3 edits"."""
        parts = [f"{self.n_clusters:,} clusters of {self.n_queries:,} queries"]
        for count, one in (
            (len(self.summary_runs), "summary run"),
            (len(self.hierarchy_runs), "hierarchy"),
            (self.edits, "edit"),
            (self.assigned, "assigned query"),
        ):
            if count:
                many = "hierarchies" if one == "hierarchy" else f"{one}s"
                parts.append(f"{count:,} {one if count == 1 else many}")
        return ", ".join(parts)


def run_contents(ws: Workspace, run_id: str) -> RunContents:
    """What the run holds, by count.

    Raises:
        NotFound: no such run.
    """
    con = ws.con
    found = con.execute(
        "SELECT n_clusters, n_queries FROM clustering_runs WHERE run_id = ?", [run_id]
    ).fetchall()
    if not found:
        raise NotFound(f"no clustering run {run_id!r} (lmsys-tui runs lists them)")

    def ids(table: str, column: str) -> list[str]:
        return [
            row[0]
            for row in con.execute(
                f"SELECT {column} FROM {table} WHERE run_id = ? ORDER BY created_at, {column}",
                [run_id],
            ).fetchall()
        ]

    def count(table: str) -> int:
        query = f"SELECT count(*) FROM {table} WHERE run_id = ?"
        return con.execute(query, [run_id]).fetchall()[0][0]

    return RunContents(
        run_id,
        found[0][0] or 0,
        found[0][1] or 0,
        ids("summary_runs", "summary_run_id"),
        ids("hierarchy_runs", "hierarchy_run_id"),
        count("edits"),
        count("assignments"),
    )


def delete_run(ws: Workspace, run_id: str) -> RunContents:
    """Delete the run and what was made from it in one transaction (all or nothing), then
    its summary search indexes. Returns what went.

    Raises:
        NotFound: no such run.
    """
    contents = run_contents(ws, run_id)
    con = ws.con
    with transaction(con):
        con.execute(
            "DELETE FROM hierarchy_nodes WHERE hierarchy_run_id IN "
            "(SELECT hierarchy_run_id FROM hierarchy_runs WHERE run_id = ?)",
            [run_id],
        )
        con.execute(
            "DELETE FROM cluster_summaries WHERE summary_run_id IN "
            "(SELECT summary_run_id FROM summary_runs WHERE run_id = ?)",
            [run_id],
        )
        for table in RUN_TABLES:
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
    for summary_run_id in contents.summary_runs:
        index = summary_index_path(ws, summary_run_id)
        for path in (index, index.with_suffix(".json")):
            with contextlib.suppress(OSError):  # left behind, it is only never read again
                path.unlink(missing_ok=True)
    return contents
