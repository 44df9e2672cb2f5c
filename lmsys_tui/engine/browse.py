"""Read-only views of a workspace for the front ends: runs, clusters, hierarchies, queries.

Every function takes a DuckDB connection (a thread's own cursor in the TUI) and returns
plain dataclasses, sorted so that output is stable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from .enrich.duplicates import copies_per_cluster, repeated_members_sql
from .errors import LmsysError

UNKNOWN = "(unknown)"  # the label of queries without a value (no model, no language)


class NotFound(LmsysError):
    """An unknown run, summary run, hierarchy, cluster or query id."""


@dataclass
class SummaryRunInfo:
    summary_run_id: str
    alias: str | None
    model: str
    created_at: datetime
    status: str  # "complete", or "partial" when some clusters failed
    usage: dict | None = None  # the LLM ledger: requests, tokens, cost, cache hits

    def shown_as(self, name: str) -> str:
        """`name` as a list of a run's names shows it: marked when some clusters failed."""
        return name + (" (partial)" if self.status == "partial" else "")


@dataclass
class HierarchyInfo:
    hierarchy_run_id: str
    summary_run_id: str
    model: str
    nodes_by_level: list[int]
    usage: dict | None = None


@dataclass
class RunInfo:
    run_id: str
    algorithm: str
    space_id: str
    embedding_model: str
    n_queries: int
    n_clusters: int
    description: str | None
    metrics: dict
    created_at: datetime
    edited_at: datetime | None
    summary_runs: list[SummaryRunInfo] = field(default_factory=list)
    hierarchies: list[HierarchyInfo] = field(default_factory=list)


@dataclass
class ClusterInfo:
    cluster_id: int
    size: int
    title: str
    description: str | None
    unique: int  # size less copies (duplicates table)


@dataclass
class TreeNode:
    node_id: str
    level: int
    parent_id: str | None
    cluster_id: int | None
    title: str
    size: int
    description: str | None = None

    @property
    def is_special(self) -> bool:
        """Noise, or new queries, or the branch holding them: listed after the clusters."""
        return (self.cluster_id is not None and self.cluster_id < 0) or self.node_id.endswith(
            "-noise"
        )

    def order(self, sort: str = "size") -> tuple:
        """Sort key among siblings: special ones last, then largest first (or by title)."""
        if sort == "title":
            return (self.is_special, self.title.lower(), self.node_id)
        return (self.is_special, -self.size, self.node_id)


@dataclass
class ClusterDetail:
    run_id: str
    cluster_id: int
    title: str
    description: str | None
    size: int
    share: float
    unique: int
    languages: list[tuple[str, int]]
    models: list[tuple[str, int]]
    representatives: list[tuple[int, str]]

    def known_mixes(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """("languages", mix) and ("models", mix), leaving out a mix that knows nothing
        (data without a model field would show "(unknown) 100%")."""
        mixes = [("languages", self.languages), ("models", self.models)]
        return [(name, mix) for name, mix in mixes if any(v != UNKNOWN for v, _ in mix)]


@dataclass
class QueryRow:
    query_id: int
    distance: float | None
    model: str | None
    language: str | None
    text: str
    copies: int = 0  # copies of it in the same cluster, counted here instead of listed


@dataclass
class QueryMembership:
    run_id: str
    cluster_id: int
    title: str
    distance: float | None
    copies: int  # other queries of the run with the same (or a near-same) text


@dataclass
class QueryDetail:
    query_id: int
    conversation_id: str
    source: str
    model: str | None
    language: str | None
    turn: int | None
    text: str
    extra: dict
    loaded_at: datetime
    clusters: list[QueryMembership]


def list_runs(con: duckdb.DuckDBPyConnection) -> list[RunInfo]:
    """Complete clustering runs, newest first, with their summary runs and hierarchies."""
    rows = con.execute(
        """
        SELECT r.run_id, r.algorithm, r.space_id, s.model, r.n_queries, r.n_clusters,
            r.description, r.metrics, r.created_at, r.edited_at
        FROM clustering_runs r JOIN embedding_spaces s USING (space_id)
        WHERE r.status = 'complete' ORDER BY r.created_at DESC, r.run_id DESC
        """
    ).fetchall()
    runs = {row[0]: RunInfo(*row[:7], json.loads(row[7] or "{}"), row[8], row[9]) for row in rows}
    for run_id, *summary in con.execute(
        "SELECT run_id, summary_run_id, alias, model, created_at, status, usage "
        "FROM summary_runs WHERE status IN ('complete', 'partial') "
        "ORDER BY status = 'complete' DESC, created_at DESC, summary_run_id"
    ).fetchall():
        if run_id in runs:
            *fields, usage = summary
            runs[run_id].summary_runs.append(
                SummaryRunInfo(*fields, json.loads(usage) if usage else None)
            )
    for run_id, hierarchy_id, summary_run_id, model, levels, usage in con.execute(
        """
        SELECT h.run_id, h.hierarchy_run_id, h.summary_run_id, h.model,
            list(n.nodes ORDER BY n.level), any_value(h.usage)
        FROM hierarchy_runs h JOIN (
            SELECT hierarchy_run_id, level, count(*) AS nodes FROM hierarchy_nodes GROUP BY ALL
        ) n USING (hierarchy_run_id)
        WHERE h.status = 'complete'
        GROUP BY h.run_id, h.hierarchy_run_id, h.summary_run_id, h.model, h.created_at
        ORDER BY h.created_at DESC, h.hierarchy_run_id
        """
    ).fetchall():
        if run_id in runs:
            runs[run_id].hierarchies.append(
                HierarchyInfo(
                    hierarchy_id,
                    summary_run_id,
                    model,
                    list(levels),
                    json.loads(usage) if usage else None,
                )
            )
    return list(runs.values())


LATEST = "latest"  # what a command takes for "the newest complete run"


def newest_run_id(con: duckdb.DuckDBPyConnection) -> str:
    """The newest complete clustering run: the one `latest` names."""
    rows = con.execute(
        "SELECT run_id FROM clustering_runs WHERE status = 'complete' "
        "ORDER BY created_at DESC, run_id DESC LIMIT 1"
    ).fetchall()
    if not rows:
        raise NotFound("the workspace has no clustering runs: run a job with a [cluster] step")
    return rows[0][0]


def unknown_run(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    """What to say of a run id the workspace does not have: the newest runs it has, so
    the next try (often an agent's) can pick one."""
    known = [
        row[0]
        for row in con.execute(
            "SELECT run_id FROM clustering_runs WHERE status = 'complete' "
            "ORDER BY created_at DESC LIMIT 6"
        ).fetchall()
    ]
    shown = ", ".join(known[:5]) + (", ..." if len(known) > 5 else "") or "none yet"
    return f"no clustering run {run_id!r} (runs: {shown})"


def require_complete_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Raises NotFound unless `run_id` is a complete clustering run (a cheap check, where
    `get_run` lists every run)."""
    if not con.execute(
        "SELECT 1 FROM clustering_runs WHERE run_id = ? AND status = 'complete'", [run_id]
    ).fetchall():
        raise NotFound(unknown_run(con, run_id))


LEDGER_TOTALS = ("requests", "cost", "unpriced")


def llm_usage(run: RunInfo) -> dict | None:
    """The ledgers of the run's LLM summaries and hierarchies added up (requests, cost,
    unpriced replies); None when no LLM named anything."""
    ledgers = [s.usage for s in run.summary_runs] + [h.usage for h in run.hierarchies]
    ledgers = [ledger for ledger in ledgers if ledger]
    if not ledgers:
        return None
    return {key: sum(ledger.get(key, 0) for ledger in ledgers) for key in LEDGER_TOTALS}


def get_run(con: duckdb.DuckDBPyConnection, run_id: str) -> RunInfo:
    for run in list_runs(con):
        if run.run_id == run_id:
            return run
    raise NotFound(unknown_run(con, run_id))


def resolve_summary_run(
    con: duckdb.DuckDBPyConnection, run_id: str, summary: str | None = None
) -> str | None:
    """A summary run of `run_id` by id or alias; when `summary` is None the newest complete
    one (a partial one, where some clusters failed, only when none is complete)."""
    rows = con.execute(
        "SELECT summary_run_id FROM summary_runs WHERE run_id = ? "
        "AND status IN ('complete', 'partial') AND (? IS NULL OR summary_run_id = ? OR alias = ?) "
        "ORDER BY status = 'complete' DESC, created_at DESC, summary_run_id LIMIT 1",
        [run_id, summary, summary, summary],
    ).fetchall()
    if rows:
        return rows[0][0]
    if summary is not None:
        raise NotFound(f"run {run_id} has no summary run or alias {summary!r}")
    return None


# Clusters that are not topics: HDBSCAN's noise and the queries [assign] found novel.
SPECIAL_CLUSTERS = {-1: "noise: not clustered", -2: "new / unassigned: novel since the run"}


def cluster_title(cluster_id: int, title: str | None) -> str:
    """A cluster's title as shown: its name, what a special cluster is, or its number."""
    return title or SPECIAL_CLUSTERS.get(cluster_id) or f"cluster {cluster_id}"


def list_clusters(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    summary_run_id: str | None = None,
    sort: str = "size",
) -> list[ClusterInfo]:
    """The run's clusters with titles (numbered "cluster N" when there are no summaries)."""
    rows = con.execute(
        """
        SELECT c.cluster_id, c.size, s.title, s.description FROM clusters c
        LEFT JOIN cluster_summaries s
            ON s.summary_run_id = ? AND s.cluster_id = c.cluster_id
        WHERE c.run_id = ?
        """,
        [summary_run_id or "", run_id],
    ).fetchall()
    copies = copies_per_cluster(con, run_id)
    clusters = [
        ClusterInfo(
            cluster_id,
            size,
            cluster_title(cluster_id, title),
            description,
            size - copies.get(cluster_id, 0),
        )
        for cluster_id, size, title, description in rows
    ]
    return sort_clusters(clusters, sort)


def sort_clusters(clusters: list[ClusterInfo], sort: str = "size") -> list[ClusterInfo]:
    """Largest first (or by title), noise and new queries after the clusters."""
    if sort == "title":
        return sorted(clusters, key=lambda c: (c.cluster_id < 0, c.title.lower(), c.cluster_id))
    return sorted(clusters, key=lambda c: (c.cluster_id < 0, -c.size, c.cluster_id))


def shown_node(node: TreeNode, children: dict[str | None, list[TreeNode]]) -> TreeNode:
    """What a tree display shows for `node`: a category with one child holds exactly what
    that child holds (the quickstart's category "SQL, CSV, column" over its one cluster
    "SQL, CSV, column"), so the child stands in its place, down to a cluster or a category
    with several children. The stored hierarchy (and JSON) keeps every level."""
    while len(kids := children.get(node.node_id, [])) == 1:
        node = kids[0]
    return node


def hierarchy_nodes(con: duckdb.DuckDBPyConnection, hierarchy_run_id: str) -> list[TreeNode]:
    """Every node of a hierarchy, top level first, biggest first within a level (noise
    last).

    A leaf shows its cluster's current title and description in the hierarchy's summary run
    (renames and merges after the build included); categories keep the titles they were
    given.
    """
    rows = con.execute(
        """
        SELECT n.node_id, n.level, n.parent_id, n.cluster_id, coalesce(s.title, n.title),
            n.size, coalesce(s.description, n.description)
        FROM hierarchy_nodes n
        JOIN hierarchy_runs h USING (hierarchy_run_id)
        LEFT JOIN cluster_summaries s
            ON s.summary_run_id = h.summary_run_id AND s.cluster_id = n.cluster_id
            AND n.cluster_id IS NOT NULL
        WHERE n.hierarchy_run_id = ?
        """,
        [hierarchy_run_id],
    ).fetchall()
    if not rows:
        raise NotFound(f"no hierarchy {hierarchy_run_id!r}")
    nodes = [
        TreeNode(node_id, level, parent, cluster, title or node_id, size, description)
        for node_id, level, parent, cluster, title, size, description in rows
    ]
    return sorted(nodes, key=lambda node: (-node.level, *node.order()))


def check_hierarchy_of_run(con: duckdb.DuckDBPyConnection, run_id: str, hierarchy_run_id: str):
    """Refuse a hierarchy built on another run: its leaves are that run's clusters."""
    rows = con.execute(
        "SELECT run_id FROM hierarchy_runs WHERE hierarchy_run_id = ?", [hierarchy_run_id]
    ).fetchall()
    if not rows:
        raise NotFound(f"no hierarchy {hierarchy_run_id!r}")
    if rows[0][0] != run_id:
        raise NotFound(
            f"hierarchy {hierarchy_run_id} was built on run {rows[0][0]}, not {run_id}: "
            f"see `lmsys-tui runs` for {run_id}'s hierarchies"
        )


def cluster_detail(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    cluster_id: int,
    summary_run_id: str | None = None,
    examples: int = 5,
) -> ClusterDetail:
    """A cluster's summary, share of the run, language and model mix, representatives."""
    sizes = con.execute(
        "SELECT size, title, description, representative_ids, share FROM ("
        "SELECT c.cluster_id, c.size, c.size / sum(c.size) OVER () AS share, s.title, "
        "s.description, s.representative_ids FROM clusters c LEFT JOIN cluster_summaries s "
        "ON s.summary_run_id = ? AND s.cluster_id = c.cluster_id WHERE c.run_id = ?) "
        "WHERE cluster_id = ?",
        [summary_run_id or "", run_id, cluster_id],
    ).fetchall()
    if not sizes:
        raise NotFound(f"run {run_id} has no cluster {cluster_id}")
    size, title, description, representative_ids, share = sizes[0]
    copies = copies_per_cluster(con, run_id, cluster_id).get(cluster_id, 0)
    mixes = {}
    for column in ("language", "model"):
        mixes[column] = [
            (value or UNKNOWN, count)
            for value, count in con.execute(
                f"SELECT q.{column}, count(*) FROM query_clusters c JOIN queries q "
                "USING (query_id) WHERE c.run_id = ? AND c.cluster_id = ? "
                "GROUP BY 1 ORDER BY 2 DESC, 1 NULLS LAST",
                [run_id, cluster_id],
            ).fetchall()
        ]
    ids = []
    if representative_ids:  # chosen when the cluster was named: an edit may have moved some
        still_here = con.execute(
            "SELECT query_id FROM query_clusters WHERE run_id = ? AND cluster_id = ? "
            "AND query_id IN (SELECT unnest(?::BIGINT[]))",
            [run_id, cluster_id, list(representative_ids)],
        ).fetchall()
        members = {query_id for (query_id,) in still_here}
        ids = [query_id for query_id in representative_ids if query_id in members][:examples]
    if not ids:
        ids = [row.query_id for row in cluster_queries(con, run_id, cluster_id, 0, examples)]
    texts = dict(
        con.execute(
            "SELECT query_id, query_text FROM queries WHERE query_id IN (SELECT unnest(?))",
            [ids],
        ).fetchall()
    )
    return ClusterDetail(
        run_id,
        cluster_id,
        cluster_title(cluster_id, title),
        description,
        size,
        float(share),
        size - copies,
        mixes["language"],
        mixes["model"],
        [(query_id, texts[query_id]) for query_id in ids if query_id in texts],
    )


# A cluster's members, and those of them that repeat a text another member shows (exact
# or near copies, as the run's duplicates step found them): counted on that member's row.
_MEMBERS_AND_COPIES = f"""
    WITH members AS (
        SELECT query_id, distance FROM query_clusters WHERE run_id = $run AND cluster_id = $cluster
    ), hidden AS (
        SELECT query_id, shown_as AS canonical_id
        FROM ({repeated_members_sql("$run", "$cluster")})
    )
"""


def count_cluster_queries(
    con: duckdb.DuckDBPyConnection, run_id: str, cluster_id: int
) -> tuple[int, int]:
    """(distinct queries listed, copies counted on their rows) of a cluster."""
    return con.execute(
        _MEMBERS_AND_COPIES
        + "SELECT (SELECT count(*) FROM members) - (SELECT count(*) FROM hidden), "
        "(SELECT count(*) FROM hidden)",
        {"run": run_id, "cluster": cluster_id},
    ).fetchall()[0]


def cluster_queries(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    cluster_id: int,
    offset: int = 0,
    limit: int = 100,
    preview_chars: int = 300,
) -> list[QueryRow]:
    """One page of a cluster's distinct queries, closest to the centroid first: a copy of
    another query of the cluster is counted on that query's row, not listed (templated
    prompts would otherwise fill the first page with one text)."""
    rows = con.execute(
        _MEMBERS_AND_COPIES
        + """
        SELECT m.query_id, m.distance, q.model, q.language, left(q.query_text, $chars),
               coalesce(k.n, 0)
        FROM members m JOIN queries q USING (query_id)
        LEFT JOIN (SELECT canonical_id, count(*) AS n FROM hidden GROUP BY 1) k
               ON k.canonical_id = m.query_id
        WHERE m.query_id NOT IN (SELECT query_id FROM hidden)
        ORDER BY m.distance NULLS LAST, m.query_id LIMIT $limit OFFSET $offset
        """,
        {
            "run": run_id,
            "cluster": cluster_id,
            "chars": preview_chars,
            "limit": limit,
            "offset": offset,
        },
    ).fetchall()
    return [QueryRow(*row) for row in rows]


def query_detail(con: duckdb.DuckDBPyConnection, query_id: int) -> QueryDetail:
    """A query's text and metadata, and its cluster (with title) in every run."""
    rows = con.execute(
        "SELECT query_id, conversation_id, source, model, language, turn, query_text, extra, "
        "loaded_at FROM queries WHERE query_id = ?",
        [query_id],
    ).fetchall()
    if not rows:
        raise NotFound(f"no query with id {query_id}")
    row = rows[0]
    memberships = con.execute(
        """
        SELECT c.run_id, c.cluster_id, c.distance, (
            SELECT s.title FROM cluster_summaries s JOIN summary_runs r USING (summary_run_id)
            WHERE r.run_id = c.run_id AND s.cluster_id = c.cluster_id AND r.status = 'complete'
            ORDER BY r.created_at DESC LIMIT 1) AS title, (
            SELECT count(*) FROM duplicates d
            WHERE d.run_id = c.run_id AND d.canonical_id = coalesce(own.canonical_id, c.query_id)
            ) AS copies
        FROM query_clusters c JOIN clustering_runs run USING (run_id)
        LEFT JOIN duplicates own ON own.run_id = c.run_id AND own.query_id = c.query_id
        WHERE c.query_id = ? AND run.status = 'complete'
        ORDER BY run.created_at DESC, c.run_id
        """,
        [query_id],
    ).fetchall()
    return QueryDetail(
        *row[:7],
        json.loads(row[7]) if row[7] else {},
        row[8],
        [
            QueryMembership(run_id, cluster_id, cluster_title(cluster_id, title), distance, copies)
            for run_id, cluster_id, distance, title, copies in memberships
        ],
    )
