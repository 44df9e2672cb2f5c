"""Export a run, one row per query, to CSV, JSON, JSONL or Parquet (chosen by extension).

Every export names one summary run and one hierarchy, so no row repeats (the tool this
replaces wrote a row per summary run). Columns: query_id, conversation_id, model,
language, query_text, cluster_id, distance, cluster_title, cluster_description, then
category_1 ... category_N: the titles of the cluster's ancestors, nearest first.

Or a sample of each cluster (`per_cluster`), for reading or annotating: its texts once
each (no copies), picked at random with a seed or nearest the centroid.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa

from .browse import (
    NotFound,
    check_hierarchy_of_run,
    hierarchy_nodes,
    resolve_summary_run,
    unknown_run,
)
from .errors import LmsysError, is_interruption
from .workspace import Workspace

FORMATS = {
    ".csv": "(FORMAT csv, HEADER true)",
    ".json": "(FORMAT json, ARRAY true)",
    ".jsonl": "(FORMAT json)",
    ".ndjson": "(FORMAT json)",
    ".parquet": "(FORMAT parquet)",
}


class ExportError(LmsysError):
    """An export cannot be written: unknown format or an unwritable path."""


# How a sample orders each cluster's texts before keeping the first N. Random is MD5 of
# the id and seed: the same sample from one DuckDB release to the next (hash() is not).
PICKS = {
    "random": "md5_number(q.query_id::VARCHAR || ':' || $seed::VARCHAR)",
    "nearest": "c.distance, q.query_id",
}
SAMPLE_OPTIONS = ("per_cluster", "pick", "seed")  # export_run's, the CLI's and [export]'s


@dataclass
class ExportResult:
    path: str
    rows: int
    run_id: str
    summary_run_id: str | None
    hierarchy_run_id: str | None
    seconds: float
    per_cluster: int | None = None  # a sample of up to N texts per cluster
    pick: str | None = None  # how the sample was picked: random or nearest

    def as_dict(self) -> dict:
        return asdict(self)


def latest_hierarchy(con, run_id: str, summary_run_id: str | None) -> str | None:
    rows = con.execute(
        "SELECT hierarchy_run_id FROM hierarchy_runs WHERE run_id = ? AND status = 'complete' "
        "AND summary_run_id = ? ORDER BY created_at DESC, hierarchy_run_id LIMIT 1",
        [run_id, summary_run_id or ""],
    ).fetchall()
    return rows[0][0] if rows else None


def export_run(
    ws: Workspace,
    run_id: str,
    path: Path | str,
    summary: str | None = None,
    hierarchy_run_id: str | None = None,
    overwrite: bool = True,
    per_cluster: int | None = None,
    pick: str = "random",
    seed: int = 42,
) -> ExportResult:
    """Write the run's queries with their cluster, its summary and its ancestors to `path`
    (an existing file only when `overwrite`); with `per_cluster`, up to that many texts
    of each cluster, copies left out, picked by `pick` (random with `seed`, or nearest)."""
    started = time.perf_counter()
    path = Path(path)
    options = FORMATS.get(path.suffix.lower())
    if options is None:
        raise ExportError(f"cannot export to {path.name}: use one of {', '.join(sorted(FORMATS))}")
    if pick not in PICKS:
        raise ExportError(f"pick {pick!r}: use one of {', '.join(PICKS)}")
    if per_cluster is not None and per_cluster < 1:
        raise ExportError(f"per_cluster {per_cluster}: expected 1 or more")
    if path.exists() and not overwrite:
        raise ExportError(f"{path} exists: pass --overwrite to replace it, or choose another")
    con = ws.con
    if not con.execute("SELECT 1 FROM clustering_runs WHERE run_id = ?", [run_id]).fetchall():
        raise NotFound(unknown_run(con, run_id))
    summary_run_id = resolve_summary_run(con, run_id, summary)
    if hierarchy_run_id is None:
        hierarchy_run_id = latest_hierarchy(con, run_id, summary_run_id)
    else:
        check_hierarchy_of_run(con, run_id, hierarchy_run_id)
    categories = _ancestor_titles(con, hierarchy_run_id) if hierarchy_run_id else {}
    depth = max((len(titles) for titles in categories.values()), default=0)
    columns = {"cluster_id": list(categories)}
    for level in range(depth):
        columns[f"category_{level + 1}"] = [
            titles[level] if level < len(titles) else None for titles in categories.values()
        ]
    ancestors = pa.table(
        columns,
        schema=pa.schema(
            [("cluster_id", pa.int32())]
            + [(f"category_{i + 1}", pa.string()) for i in range(depth)]
        ),
    )
    con.register("export_ancestors", ancestors)
    category_columns = "".join(f", a.category_{i + 1}" for i in range(depth))
    parameters = {"summary": summary_run_id or "", "run": run_id}
    sample = ""
    if per_cluster is not None:
        sample = (
            "AND d.canonical_id IS NULL QUALIFY row_number() OVER "
            f"(PARTITION BY c.cluster_id ORDER BY {PICKS[pick]}) <= $per_cluster"
        )
        parameters["per_cluster"] = per_cluster
        if pick == "random":
            parameters["seed"] = seed
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE export_rows AS
            SELECT q.query_id, q.conversation_id, q.source, q.model, q.language, q.query_text,
                d.canonical_id AS copy_of, d.kind AS copy_kind,
                c.cluster_id, c.distance, s.title AS cluster_title,
                s.description AS cluster_description{category_columns}
            FROM query_clusters c JOIN queries q USING (query_id)
            LEFT JOIN duplicates d ON d.run_id = c.run_id AND d.query_id = c.query_id
            LEFT JOIN cluster_summaries s
                ON s.summary_run_id = $summary AND s.cluster_id = c.cluster_id
            LEFT JOIN export_ancestors a ON a.cluster_id = c.cluster_id
            WHERE c.run_id = $run {sample}
            ORDER BY {f"c.cluster_id, {PICKS[pick]}, " if sample else ""}q.query_id
            """,
            parameters,
        )
        rows = con.execute("SELECT count(*) FROM export_rows").fetchall()[0][0]
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        quoted = str(partial).replace("'", "''")
        try:
            con.execute(f"COPY export_rows TO '{quoted}' {options}")
        except BaseException as error:
            partial.unlink(missing_ok=True)
            if is_interruption(error) or not isinstance(error, Exception):
                raise
            # duckdb IO errors: the path is not writable
            raise ExportError(f"cannot write {path}: {str(error).splitlines()[0]}") from None
        os.replace(partial, path)
    finally:
        con.execute("DROP TABLE IF EXISTS export_rows")
        con.unregister("export_ancestors")
    return ExportResult(
        str(path),
        rows,
        run_id,
        summary_run_id,
        hierarchy_run_id,
        time.perf_counter() - started,
        per_cluster,
        pick if per_cluster is not None else None,
    )


def _ancestor_titles(con, hierarchy_run_id: str) -> dict[int, list[str]]:
    """cluster id -> titles of its parent, grandparent, ... in the hierarchy."""
    nodes = {node.node_id: node for node in hierarchy_nodes(con, hierarchy_run_id)}
    result: dict[int, list[str]] = {}
    for node in nodes.values():
        if node.level != 0 or node.cluster_id is None:
            continue
        titles, parent = [], node.parent_id
        while parent is not None and parent in nodes:
            titles.append(nodes[parent].title)
            parent = nodes[parent].parent_id
        result[node.cluster_id] = titles
    return result
