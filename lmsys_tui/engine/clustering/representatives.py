"""Representative queries of each cluster: the nearest to its centroid plus a diverse
sample chosen by maximal marginal relevance (MMR), seeded. Copies of another query of the
cluster (the `duplicates` table) are never chosen, so no text is shown twice."""

from __future__ import annotations

import numpy as np

from ..enrich.duplicates import repeated_members_sql
from ..workspace import Workspace


def representatives(
    ws: Workspace,
    run_id: str,
    space_id: str,
    per_cluster: int,
    seed: int,
    only: list[int] | None = None,
) -> dict[int, list[int]]:
    """Up to `per_cluster` query ids per cluster (of `only`, when given): half nearest,
    half MMR-diverse."""
    pool = ws.con.execute(
        f"""
        SELECT cluster_id, query_id, distance FROM query_clusters
        WHERE run_id = ? AND query_id NOT IN (SELECT query_id FROM ({repeated_members_sql()}))
          AND (?::INTEGER[] IS NULL OR list_contains(?::INTEGER[], cluster_id))
        QUALIFY row_number() OVER (PARTITION BY cluster_id ORDER BY distance, query_id) <= ?
             OR row_number() OVER (PARTITION BY cluster_id ORDER BY hash(query_id + ?)) <= ?
        ORDER BY cluster_id, distance, query_id
        """,
        [run_id, run_id, only, only, 3 * per_cluster, seed, 3 * per_cluster],
    ).fetchnumpy()
    rows = ws.con.execute(
        "SELECT query_id, row_index FROM embeddings WHERE space_id = ? AND query_id IN "
        "(SELECT unnest(?::BIGINT[]))",
        [space_id, pool["query_id"].tolist()],
    ).fetchall()
    row_of = dict(rows)
    matrix = ws.vector_file(space_id).array()
    chosen: dict[int, list[int]] = {}
    for cluster_id in np.unique(pool["cluster_id"]):
        mask = pool["cluster_id"] == cluster_id
        ids = pool["query_id"][mask]  # nearest first
        vectors = np.asarray(matrix[[row_of[i] for i in ids]], dtype=np.float32)
        chosen[int(cluster_id)] = _nearest_then_mmr(ids, vectors, per_cluster)
    return chosen


def _nearest_then_mmr(ids: np.ndarray, vectors: np.ndarray, k: int, weight: float = 0.5):
    nearest = min(len(ids), (k + 1) // 2)
    picked = list(range(nearest))
    centre = vectors.mean(axis=0)
    relevance = vectors @ centre
    while len(picked) < min(k, len(ids)):
        redundancy = (vectors @ vectors[picked].T).max(axis=1)
        score = weight * relevance - (1 - weight) * redundancy
        score[picked] = -np.inf
        picked.append(int(np.argmax(score)))
    return [int(ids[i]) for i in picked]
