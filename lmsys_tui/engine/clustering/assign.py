"""New queries into an existing run: each to its nearest cluster, without re-clustering.

Queries embedded in the run's space but not in the run (loaded after it) are compared
with the run's centroids (cosine). Each joins its nearest cluster, except those farther
from it than the run's own members usually are (beyond the given percentile of the
members' distances): those are novel, and go to the virtual cluster -2, "new /
unassigned", so a researcher sees what the old run has no place for. Centroids stay as
they are; sizes, hierarchy sizes and `n_queries` follow; the run's copies are marked
again (a new query may repeat a text the run holds); `assignments` keeps each query's
nearest cluster and distance, and the audit trail one row per pass.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from ..browse import unknown_run
from ..errors import ClusterError
from ..progress import Progress, ProgressSink, null_sink
from ..specs import AssignStep
from ..store import transaction
from ..workspace import Workspace
from .runs import mark_duplicates, subset_query_ids

NEW_CLUSTER = -2
CHUNK = 50_000


@dataclass
class AssignResult:
    run_id: str
    assigned: int  # into their nearest cluster
    novel: int  # farther than the threshold: cluster -2
    not_embedded: int  # new queries without a vector in the run's space yet
    threshold: float  # cosine distance
    seconds: float
    copies: dict | None = None  # the run's copies marked again: {"exact", "near", "seconds"}

    def as_dict(self) -> dict:
        return asdict(self)


def assign_new_queries(
    ws: Workspace, step: AssignStep, run_id: str, progress: ProgressSink = null_sink
) -> AssignResult:
    """Assign the run's missing queries (those with vectors) to its clusters.

    Raises:
        ClusterError: the run is unknown or has no centroids.
    """
    from ..curation.audit import record_edit
    from ..curation.edits import resize_hierarchies

    started = time.perf_counter()
    con = ws.con
    rows = con.execute(
        "SELECT space_id, parameters FROM clustering_runs WHERE run_id = ? AND status = 'complete'",
        [run_id],
    ).fetchall()
    if not rows:
        raise ClusterError(unknown_run(con, run_id))
    space_id = rows[0][0]
    # A run over a subset takes new queries of that subset only (a Russian-only run does
    # not absorb new English prompts).
    subset = json.loads(rows[0][1] or "{}").get("subset")
    wanted = subset_query_ids(ws, subset) if subset else None
    missing = con.execute(
        """
        SELECT q.query_id, e.query_id IS NULL AS not_embedded
        FROM queries q LEFT JOIN embeddings e ON e.query_id = q.query_id AND e.space_id = ?
        WHERE q.query_id NOT IN (SELECT query_id FROM query_clusters WHERE run_id = ?)
        """,
        [space_id, run_id],
    ).fetchnumpy()
    chosen = np.ones(len(missing["query_id"]), bool)
    if wanted is not None:
        chosen = np.isin(missing["query_id"], wanted)
    not_embedded = int(missing["not_embedded"][chosen].sum())
    new_total = int(chosen.sum())
    threshold = _threshold(ws, run_id, step.novelty_percentile)
    if new_total - not_embedded == 0:
        return AssignResult(run_id, 0, 0, not_embedded, threshold, 0.0)
    centroid_rows = con.execute(
        "SELECT cluster_id, centroid FROM clusters WHERE run_id = ? AND cluster_id >= 0 "
        "AND centroid IS NOT NULL ORDER BY cluster_id",
        [run_id],
    ).fetchall()
    if not centroid_rows:
        raise ClusterError(f"run {run_id} has no cluster centroids to assign to")
    cluster_ids = np.array([row[0] for row in centroid_rows], dtype=np.int32)
    centroids = np.array([row[1] for row in centroid_rows], dtype=np.float32)
    query_ids, vectors = _fresh_vectors(ws, run_id, space_id)
    if wanted is not None:
        keep = np.isin(query_ids, wanted)
        query_ids, vectors = query_ids[keep], vectors[keep]
    nearest = np.empty(len(query_ids), dtype=np.int32)
    distance = np.empty(len(query_ids), dtype=np.float32)
    label = f"assigning {len(query_ids):,} queries to {run_id}"
    for start in range(0, len(query_ids), CHUNK):
        similarity = vectors[start : start + CHUNK] @ centroids.T
        best = similarity.argmax(axis=1)
        nearest[start : start + CHUNK] = cluster_ids[best]
        distance[start : start + CHUNK] = 1.0 - similarity[np.arange(len(best)), best]
        progress(Progress("assign", min(start + CHUNK, len(query_ids)), len(query_ids), label))
    novel = distance > threshold
    members = pa.table(
        {
            "query_id": query_ids,
            "cluster_id": np.where(novel, NEW_CLUSTER, nearest).astype(np.int32),
            "nearest": nearest,
            "distance": distance,
            "novel": novel,
        }
    )
    con.register("assigned", members)
    try:
        with transaction(con):
            con.execute(
                "INSERT INTO query_clusters SELECT ?, query_id, cluster_id, distance, NULL "
                "FROM assigned",
                [run_id],
            )
            con.execute(
                "INSERT INTO assignments SELECT ?, query_id, nearest, distance, novel, "
                "now()::TIMESTAMP FROM assigned",
                [run_id],
            )
            if novel.any():
                con.execute(
                    "INSERT OR IGNORE INTO clusters VALUES (?, ?, 0, NULL)", [run_id, NEW_CLUSTER]
                )
            con.execute(
                """
                UPDATE clusters SET size = n FROM (
                    SELECT cluster_id, count(*) AS n FROM query_clusters
                    WHERE run_id = ? GROUP BY ALL) m
                WHERE clusters.run_id = ? AND clusters.cluster_id = m.cluster_id
                """,
                [run_id, run_id],
            )
            con.execute(
                "UPDATE clustering_runs SET n_queries = (SELECT count(*) FROM query_clusters "
                "WHERE run_id = ?) WHERE run_id = ?",
                [run_id, run_id],
            )
            resize_hierarchies(ws, run_id)
            # A new query may repeat a text the run holds: marked like the run's own
            # copies (so unique counts, representatives and search show each text once),
            # in this transaction, so an interrupted assign leaves no query unmarked.
            copies = mark_duplicates(ws, run_id, space_id, progress, new_ids=query_ids)
            record_edit(
                ws,
                run_id,
                "assign",
                {"queries": len(query_ids)},
                None,
                {
                    "assigned": int((~novel).sum()),
                    "novel": int(novel.sum()),
                    "threshold": round(threshold, 4),
                },
                f"new queries into their nearest clusters (novel past the "
                f"{step.novelty_percentile:g}th percentile)",
            )
    finally:
        con.unregister("assigned")
    return AssignResult(
        run_id,
        int((~novel).sum()),
        int(novel.sum()),
        not_embedded,
        round(threshold, 4),
        time.perf_counter() - started,
        copies,
    )


def _fresh_vectors(ws: Workspace, run_id: str, space_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(query ids, float32 vectors) of the space's queries that the run does not hold;
    only their rows are read from the vector file."""
    from ..embedding.vector_chunks import require_intact

    require_intact(ws, space_id)
    mapping = ws.con.execute(
        """
        SELECT e.query_id, e.row_index FROM embeddings e
        WHERE e.space_id = ? AND NOT EXISTS (
            SELECT 1 FROM query_clusters c WHERE c.run_id = ? AND c.query_id = e.query_id)
        ORDER BY e.row_index
        """,
        [space_id, run_id],
    ).fetchnumpy()
    matrix = ws.vector_file(space_id).array()
    return mapping["query_id"], np.asarray(matrix[mapping["row_index"]], dtype=np.float32)


def _threshold(ws: Workspace, run_id: str, percentile: float) -> float:
    """The distance beyond which a query is novel: the percentile of the distances of the
    run's own members (those it clustered, not earlier assignments)."""
    found = ws.con.execute(
        """
        SELECT quantile_cont(distance, ?) FROM query_clusters c
        WHERE run_id = ? AND cluster_id >= 0 AND distance IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM assignments a
                          WHERE a.run_id = c.run_id AND a.query_id = c.query_id)
        """,
        [percentile / 100, run_id],
    ).fetchall()[0][0]
    return float(found) if found is not None else 1.0
