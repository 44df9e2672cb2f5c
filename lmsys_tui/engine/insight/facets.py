"""What sets a cluster apart: facet values over- or under-represented against the run.

For a facet (model, language, source, turn, flagged, or any field the data carried in
`extra`), each cluster's share of a value is compared with the value's share of the whole
run: lift = share in cluster / share overall. A Wilson 95 % interval on the cluster's
share, divided by the overall share, gives the lift's interval, so a cluster of 8 queries
does not shout "5x gpt-4" on two of them: rank by the interval's lower bound. Counting is
one GROUP BY in DuckDB (about a second for every cluster of a 1M-query run).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import duckdb

from ..browse import UNKNOWN, NotFound, cluster_title, require_complete_run, resolve_summary_run

Z95 = 1.959964
# "Stands out": the interval clears 1 and the lift itself is at least this (a 99 % vs 95 %
# difference is certain on a big cluster, and says nothing).
STANDOUT_LIFT = 1.5
# ...and held by at least this many of the cluster's queries: a value rare in the run
# clears the interval on a single query (1 Indonesian prompt of 186 read as "25x" when the
# run held 2 in 9,434), which says nothing about the cluster.
STANDOUT_MIN_COUNT = 5
# Facets with a column of their own; anything else is looked up in `extra` by name.
COLUMNS = {
    "model": "q.model",
    "language": "q.language",
    "source": "q.source",
    "turn": "CAST(q.turn AS VARCHAR)",
    # LMSYS-Chat-1M: OpenAI moderation per message; a conversation is flagged when any is.
    "flagged": (
        "CASE WHEN json_type(q.extra, '$.openai_moderation') IS NULL THEN NULL "
        "WHEN list_contains(json_extract_string(q.extra, '$.openai_moderation[*].flagged'), "
        "'true') THEN 'flagged' ELSE 'not flagged' END"
    ),
}


@dataclass
class Lift:
    cluster_id: int
    title: str
    value: str
    count: int  # queries of the cluster with the value
    cluster_size: int
    share: float  # of the cluster
    overall_share: float  # of the run
    lift: float
    lift_low: float  # Wilson 95 % interval of the share, over the overall share
    lift_high: float

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def stands_out(self) -> bool:
        return (
            self.lift_low > 1
            and self.lift >= STANDOUT_LIFT
            and self.count >= STANDOUT_MIN_COUNT
            and self.value != UNKNOWN
        )


def wilson(count: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion count/total."""
    if total == 0:
        return 0.0, 1.0
    p = count / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def facet_expression(con: duckdb.DuckDBPyConnection, by: str) -> str:
    """The SQL giving a query's value of facet `by`.

    Raises:
        NotFound: no such column, and no query carries a field of that name.
    """
    if by in COLUMNS:
        return COLUMNS[by]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ .-]{0,63}", by):
        raise NotFound(f"no facet {by!r}: use {', '.join(COLUMNS)} or a field of the data")
    path = '$."' + by + '"'
    present = con.execute(
        "SELECT count(*) FROM (SELECT 1 FROM queries WHERE json_exists(extra, ?) LIMIT 1)",
        [path],
    ).fetchall()[0][0]
    if not present:
        # The first rows of each source: a later source's fields were left out when the
        # first 1,000 rows of the workspace came from another (26 ms at 1M rows).
        known = con.execute(
            "SELECT DISTINCT unnest(json_keys(extra)) FROM (SELECT extra FROM queries "
            "WHERE extra IS NOT NULL "
            "QUALIFY row_number() OVER (PARTITION BY source ORDER BY query_id) <= 200) "
            "ORDER BY 1 LIMIT 20"
        ).fetchall()
        fields = ", ".join([*COLUMNS, *(row[0] for row in known)])
        raise NotFound(f"no facet {by!r}: use one of {fields}")
    quoted = path.replace("'", "''")
    return f"json_extract_string(q.extra, '{quoted}')"


def value_totals(con: duckdb.DuckDBPyConnection, run_id: str, by: str) -> dict[str, int]:
    """How many queries of the run have each value of facet `by` (the lifts' baseline;
    a screen showing one cluster after another computes it once)."""
    expression = facet_expression(con, by)
    return dict(
        con.execute(
            f"SELECT coalesce({expression}, ?), count(*) FROM query_clusters c "
            "JOIN queries q USING (query_id) WHERE c.run_id = ? GROUP BY ALL",
            [UNKNOWN, run_id],
        ).fetchall()
    )


def facet_lift(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    by: str,
    cluster_id: int | None = None,
    value: str | None = None,
    summary: str | None = None,
    min_count: int = 1,
    totals: dict[str, int] | None = None,
) -> list[Lift]:
    """Lifts of facet `by` in run `run_id`: every (cluster, value) pair, or one cluster's
    values, or one value's clusters; strongest first by the interval's lower bound.

    Raises:
        NotFound: an unknown run, cluster or facet, or a value no query of the run has.
    """
    require_complete_run(con, run_id)
    if (
        cluster_id is not None
        and not con.execute(
            "SELECT 1 FROM clusters WHERE run_id = ? AND cluster_id = ?", [run_id, cluster_id]
        ).fetchall()
    ):
        raise NotFound(f"run {run_id} has no cluster {cluster_id}")
    expression = facet_expression(con, by)
    totals = totals if totals is not None else value_totals(con, run_id, by)
    if value is not None and value not in totals:
        raise NotFound(f"no query of run {run_id} has {by} = {value!r}")
    rows = con.execute(
        f"""
        SELECT cluster_id, value, n, sum(n) OVER (PARTITION BY cluster_id) AS size
        FROM (
            SELECT c.cluster_id, coalesce({expression}, ?) AS value, count(*) AS n
            FROM query_clusters c JOIN queries q USING (query_id)
            WHERE c.run_id = ? AND (?::INTEGER IS NULL OR c.cluster_id = ?)
            GROUP BY ALL
        )
        QUALIFY (?::VARCHAR IS NULL OR value = ?) AND n >= ?
        """,
        [UNKNOWN, run_id, cluster_id, cluster_id, value, value, min_count],
    ).fetchall()
    total = sum(totals.values())
    summary_run_id = resolve_summary_run(con, run_id, summary)
    titles = (
        dict(
            con.execute(
                "SELECT cluster_id, title FROM cluster_summaries WHERE summary_run_id = ?",
                [summary_run_id],
            ).fetchall()
        )
        if summary_run_id
        else {}
    )
    lifts = []
    for cluster, facet_value, count, size in rows:
        overall = totals[facet_value] / total
        low, high = wilson(count, size)
        lifts.append(
            Lift(
                cluster,
                cluster_title(cluster, titles.get(cluster)),
                facet_value,
                count,
                int(size),
                round(count / size, 4),
                round(overall, 4),
                round(count / size / overall, 3),
                round(low / overall, 3),
                round(high / overall, 3),
            )
        )
    lifts.sort(key=lambda lift: (-lift.lift_low, -lift.count, lift.cluster_id, lift.value))
    return lifts
