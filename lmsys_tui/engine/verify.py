"""Does a run agree with itself? DuckDB against the vector file and the indexes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .browse import NotFound, unknown_run
from .embedding.vector_chunks import find_damage
from .errors import WorkspaceError
from .retrieval.index import IndexCheck, check_query_index, check_summary_index, query_index_path
from .retrieval.keyword_index import indexed_count as keyword_indexed_count
from .workspace import Workspace


@dataclass
class Check:
    name: str
    ok: bool
    expected: int | None = None
    found: int | None = None
    detail: str = ""
    fix: str = ""  # what to run when the check fails


@dataclass
class VerifyReport:
    run_id: str
    space_id: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "space_id": self.space_id,
            "ok": self.ok,
            "checks": [asdict(check) for check in self.checks],
        }


def verify_run(ws: Workspace, run_id: str) -> VerifyReport:
    con = ws.con
    rows = con.execute(
        "SELECT space_id, n_queries FROM clustering_runs WHERE run_id = ? AND status = 'complete'",
        [run_id],
    ).fetchall()
    if not rows:
        raise NotFound(unknown_run(con, run_id))
    space_id, n_queries = rows[0]
    report = VerifyReport(run_id, space_id)
    add = report.checks.append

    members, orphans, unembedded = con.execute(
        """
        SELECT count(*),
            count(*) FILTER (WHERE q.query_id IS NULL),
            count(*) FILTER (WHERE e.query_id IS NULL)
        FROM query_clusters c
        LEFT JOIN queries q USING (query_id)
        LEFT JOIN embeddings e ON e.query_id = c.query_id AND e.space_id = ?
        WHERE c.run_id = ?
        """,
        [space_id, run_id],
    ).fetchall()[0]
    add(
        Check(
            "run members",
            members == n_queries,
            n_queries,
            members,
            "queries the run records against its member rows",
        )
    )
    add(Check("members without a query", orphans == 0, 0, orphans))
    add(Check("members without a vector in the run's space", unembedded == 0, 0, unembedded))

    bad_sizes = con.execute(
        """
        SELECT count(*) FROM clusters k LEFT JOIN (
            SELECT cluster_id, count(*) AS n FROM query_clusters WHERE run_id = ? GROUP BY 1
        ) m USING (cluster_id)
        WHERE k.run_id = ? AND k.size != coalesce(m.n, 0)
        """,
        [run_id, run_id],
    ).fetchall()[0][0]
    add(Check("cluster sizes match members", bad_sizes == 0, 0, bad_sizes))

    n_vectors, n_rows, max_row, distinct_rows = con.execute(
        """
        SELECT s.n_vectors, count(e.row_index), coalesce(max(e.row_index), -1),
            count(DISTINCT e.row_index)
        FROM embedding_spaces s LEFT JOIN embeddings e USING (space_id)
        WHERE s.space_id = ? GROUP BY s.n_vectors
        """,
        [space_id],
    ).fetchall()[0]
    try:
        file_rows = ws.vector_file(space_id).rows
        file_detail = str(ws.vector_path(space_id))
    except Exception as error:  # a missing or damaged vector file is what we report
        file_rows, file_detail = None, str(error)
    rerun_embed = "run a job with an [embed] step: it embeds the lost rows again"
    add(
        Check(
            "vector file rows",
            file_rows == n_vectors,
            n_vectors,
            file_rows,
            file_detail,
            "" if file_rows == n_vectors else rerun_embed,
        )
    )
    damage = find_damage(ws, space_id)
    add(
        Check(
            "vector file content",
            damage is None,
            n_vectors,
            n_vectors if damage is None else n_vectors - damage.lost_rows,
            "block checksums match" if damage is None else damage.reason,
            "" if damage is None else rerun_embed,
        )
    )
    unused = n_vectors - n_rows
    add(
        Check(
            "embedding rows",
            distinct_rows == n_rows and max_row < n_vectors,
            n_rows,
            distinct_rows,
            "one distinct vector-file row per embedded query"
            + (f" ({unused:,} rows left unused by a repair)" if unused > 0 else ""),
        )
    )

    rebuild_index = "the next search rebuilds it, or run a job with [index] rebuild = true"
    try:
        query_index = check_query_index(ws, space_id, full=True)
    except WorkspaceError as error:  # the vector file it is checked against is damaged
        query_index = IndexCheck(
            str(query_index_path(ws, space_id)), "unchecked", 0, None, str(error)
        )
    add(
        Check(
            "query index",
            query_index.ok,
            query_index.expected,
            query_index.indexed,
            f"{query_index.state}: {query_index.detail}".rstrip(": "),
            "" if query_index.ok else rebuild_index,
        )
    )
    # A pass that named no cluster (every request failed) has nothing to index.
    for (summary_run_id,) in con.execute(
        "SELECT summary_run_id FROM summary_runs s "
        "WHERE run_id = ? AND status IN ('complete', 'partial') AND EXISTS ("
        "    SELECT 1 FROM cluster_summaries c "
        "    WHERE c.summary_run_id = s.summary_run_id AND c.error IS NULL) "
        "ORDER BY summary_run_id",
        [run_id],
    ).fetchall():
        summary = check_summary_index(ws, summary_run_id, full=True)
        add(
            Check(
                f"summary index {summary_run_id}",
                summary.ok,
                summary.expected,
                summary.indexed,
                f"{summary.state}: {summary.detail}".rstrip(": "),
                "" if summary.ok else rebuild_index,
            )
        )

    total = con.execute("SELECT count(*) FROM queries").fetchall()[0][0]
    indexed = keyword_indexed_count(ws)
    add(
        Check(
            "keyword index",
            indexed == total,
            total,
            indexed,
            "queries indexed",
            "" if indexed == total else rebuild_index,
        )
    )
    return report
