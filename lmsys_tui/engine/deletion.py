"""Deleting a clustering run with everything made from it (names, hierarchies, edits),
one summary run of a run with its hierarchies, or an embedding space with its vectors,
indexes and runs.

Trying k = 50, 200 and 1,000 leaves runs nobody will open again, each holding a row per
query; trying a second model leaves its vectors (~0.8 GB per 1M prompts at 384
dimensions); trying an LLM whose names disappoint leaves a set of names that `n` keeps
offering. Deleting is not audited: a run's audit trail goes with the run (a summary
run's deletion leaves the run's trail as it was).
The database goes first, in one transaction; files after it, so a crash in between
leaves only files nothing reads (a later space of the same id truncates or rebuilds them).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .browse import NotFound, unknown_run
from .embedding.query_encoder import encoder_dir
from .errors import LmsysError
from .retrieval.index import query_index_path, summary_index_path
from .store import transaction
from .workspace import Workspace, bytes_on_disk


class DeleteRefused(LmsysError):
    """A deletion that would take more than was named (a space's runs, an alias that
    names several summary runs)."""


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
        raise NotFound(unknown_run(con, run_id))

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
    with transaction(ws.con):
        _delete_run_rows(ws, run_id)
    for summary_run_id in contents.summary_runs:
        _remove(_with_manifest(summary_index_path(ws, summary_run_id)))
    return contents


def _delete_run_rows(ws: Workspace, run_id: str) -> None:
    _delete_names_and_nodes(ws.con, "run_id", run_id)
    ws.con.execute(
        "DELETE FROM removed_clusters WHERE edit_id IN (SELECT edit_id FROM edits "
        "WHERE run_id = ?)",
        [run_id],
    )
    for table in RUN_TABLES:
        ws.con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])


def _delete_names_and_nodes(con, column: str, value: str) -> None:
    """Delete the rows keyed by a summary or hierarchy run's own id (cluster summaries,
    hierarchy nodes) of the runs whose `column` (run_id, summary_run_id) is `value`; the
    summary and hierarchy runs' rows themselves are the caller's to delete, after these."""
    for table, parents, key in (
        ("hierarchy_nodes", "hierarchy_runs", "hierarchy_run_id"),
        ("cluster_summaries", "summary_runs", "summary_run_id"),
    ):
        con.execute(
            f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {parents} WHERE {column} = ?)",
            [value],
        )


@dataclass
class SummaryContents:
    """What deleting a summary run takes with it: its names and the hierarchies built on
    them. Edits stay in the audit trail (an undo of a rename in it then says it is gone)."""

    summary_run_id: str
    run_id: str
    model: str
    n_named: int  # clusters it has a title for
    hierarchy_runs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One line: "names of 50 clusters (offline) of run kmeans-50-..., 1 hierarchy"."""
        text = f"names of {self.n_named:,} clusters ({self.model}) of run {self.run_id}"
        count = len(self.hierarchy_runs)
        if count:
            text += f", {count:,} {'hierarchy' if count == 1 else 'hierarchies'}"
        return text


def summary_contents(ws: Workspace, summary_run_id: str) -> SummaryContents:
    """What the summary run (by id, or by an alias only it has) holds, by count.

    Raises:
        NotFound: no summary run of that id or alias.
        DeleteRefused: an alias that names several (give the id).
    """
    con = ws.con
    found = con.execute(
        "SELECT summary_run_id, run_id, model FROM summary_runs "
        "WHERE summary_run_id = ? OR alias = ? ORDER BY summary_run_id = ? DESC, created_at",
        [summary_run_id, summary_run_id, summary_run_id],
    ).fetchall()
    if not found:
        raise NotFound(f"no summary run {summary_run_id!r} (lmsys-tui runs lists them)")
    if found[0][0] != summary_run_id and len(found) > 1:
        ids = ", ".join(row[0] for row in found)
        raise DeleteRefused(f"alias {summary_run_id!r} names {len(found)} summary runs ({ids})")
    summary_run_id, run_id, model = found[0]
    hierarchies = [
        row[0]
        for row in con.execute(
            "SELECT hierarchy_run_id FROM hierarchy_runs WHERE summary_run_id = ? "
            "ORDER BY created_at, hierarchy_run_id",
            [summary_run_id],
        ).fetchall()
    ]
    named = con.execute(
        "SELECT count(*) FROM cluster_summaries WHERE summary_run_id = ? AND title IS NOT NULL",
        [summary_run_id],
    ).fetchall()[0][0]
    return SummaryContents(summary_run_id, run_id, model, named, hierarchies)


def delete_summary_run(ws: Workspace, summary_run_id: str) -> SummaryContents:
    """Delete one summary run (as `summary_contents` finds it), its names and the
    hierarchies built on them, in one transaction, then its search index. The clustering
    run and its other names stay. Raises as `summary_contents` does."""
    contents = summary_contents(ws, summary_run_id)
    summary_run_id = contents.summary_run_id
    con = ws.con
    with transaction(con):
        _delete_names_and_nodes(con, "summary_run_id", summary_run_id)
        for table in ("hierarchy_runs", "summary_runs"):
            con.execute(f"DELETE FROM {table} WHERE summary_run_id = ?", [summary_run_id])
    _remove(_with_manifest(summary_index_path(ws, summary_run_id)))
    return contents


@dataclass
class SpaceContents:
    """What deleting a space takes with it."""

    space_id: str
    model: str
    vectors: int
    runs: list[RunContents] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # those that were there
    freed_bytes: int = 0  # by those files (room freed inside the database is not counted)

    def as_dict(self) -> dict:
        return asdict(self)


def delete_space(ws: Workspace, space_id: str, with_runs: bool = False) -> SpaceContents:
    """Delete an embedding space: its vectors, query index and query encoder, and (only
    with `with_runs`) the runs clustered in it. Returns what went.

    Raises:
        NotFound: no such space.
        DeleteRefused: it has runs and `with_runs` is false.
    """
    con = ws.con
    found = con.execute(
        "SELECT model, n_vectors FROM embedding_spaces WHERE space_id = ?", [space_id]
    ).fetchall()
    if not found:
        known = [row[0] for row in con.execute("SELECT space_id FROM embedding_spaces").fetchall()]
        raise NotFound(f"no embedding space {space_id!r} (spaces: {', '.join(known) or 'none'})")
    run_ids = [
        row[0]
        for row in con.execute(
            "SELECT run_id FROM clustering_runs WHERE space_id = ? ORDER BY created_at, run_id",
            [space_id],
        ).fetchall()
    ]
    if run_ids and not with_runs:
        shown = ", ".join(run_ids[:5]) + (", ..." if len(run_ids) > 5 else "")
        raise DeleteRefused(
            f"space {space_id} holds {len(run_ids)} run(s) ({shown}): delete them first, "
            "or delete them with it (--with-runs)"
        )
    contents = SpaceContents(space_id, found[0][0], found[0][1] or 0)
    contents.runs = [run_contents(ws, run_id) for run_id in run_ids]
    with transaction(con):
        for run_id in run_ids:
            _delete_run_rows(ws, run_id)
        for table in ("embeddings", "vector_chunks", "embedding_spaces"):
            con.execute(f"DELETE FROM {table} WHERE space_id = ?", [space_id])
    ws._vector_files.pop(space_id, None)
    paths = [
        ws.vector_path(space_id),
        *_with_manifest(query_index_path(ws, space_id)),
        encoder_dir(ws, space_id),
    ]
    for run in contents.runs:
        for summary_run_id in run.summary_runs:
            paths += _with_manifest(summary_index_path(ws, summary_run_id))
    present = [path for path in paths if path.exists()]
    contents.files = [str(path) for path in present]
    contents.freed_bytes = sum(bytes_on_disk(path) for path in present)
    _remove(present)
    return contents


def _with_manifest(index: Path) -> list[Path]:
    return [index, index.with_suffix(".json")]


def _remove(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):  # left behind, it is only never read again
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
