"""Copies within a clustering run: exact duplicates and near-duplicates.

Exact: the same text once lowercased with whitespace, punctuation and symbols collapsed
(one DuckDB window over each text's identity, computed once per query and kept). Near:
within each cluster, unique texts whose vectors have cosine >= NEAR_COSINE to another
are joined (union-find), which catches one template with different short fillers and
small edits. Chosen over MinHash (datasketch) because the vectors are already there and
a cluster bounds the comparisons: no second pass over the text. Each copy points at its
group's canonical query (the one nearest the centroid, or the lowest id for exact
copies); canonical queries are not stored. A copy whose canonical is a copy itself (a
text with exact copies that is a near copy; two near groups joined when their clusters
merge) points at the text the group shows, so each group shows one text; an exact copy
that points past its text counts as near.
"""

from __future__ import annotations

import time

import numpy as np

from ..progress import Progress, ProgressSink, null_sink
from ..store import transaction
from ..workspace import Workspace

NEAR_COSINE = 0.95
# A text's identity for exact copies: lowercased, whitespace, punctuation and symbols
# collapsed, hashed (DuckDB SQL over `query_text`; search folds copies the same way).
# MD5, not DuckDB's hash(): the identities are kept (text_hashes), and hash() may change
# from one DuckDB release to the next.
NORMALISED_TEXT_HASH = (
    r"md5_number(trim(regexp_replace(lower(query_text), '[\s\pP\pS]+', ' ', 'g')))"
)
_BLOCK_CELLS = 32_000_000  # similarity cells computed at once (128 MB)


def find_duplicates(
    ws: Workspace,
    run_id: str,
    space_id: str,
    progress: ProgressSink = null_sink,
    new_ids: np.ndarray | None = None,
) -> dict:
    """Store the run's copies in `duplicates` (replacing any); return their counts.

    With `new_ids` (queries that just joined a cluster: assigned to the run, or merged
    in), near copies are looked for among those only, each against its cluster, and the
    run's earlier near marks stay: the cost follows the new queries, not the run (exact
    copies are found again run-wide).
    """
    started = time.perf_counter()
    progress(Progress("duplicates", 0, 2, f"exact copies in {run_id}"))
    _hash_new_texts(ws, run_id)
    exact = ws.con.execute(
        """
        SELECT query_id, first(query_id) OVER (PARTITION BY h ORDER BY query_id) AS canonical
        FROM query_clusters c JOIN text_hashes USING (query_id)
        WHERE c.run_id = ?
        QUALIFY canonical <> query_id
        """,
        [run_id],
    ).fetchnumpy()
    progress(Progress("duplicates", 1, 2, f"near copies in {run_id}"))
    if new_ids is None:
        near_ids, near_canonical = _near_copies(ws, run_id, space_id, exact["query_id"])
    else:
        near_ids, near_canonical = _near_copies_of_new(
            ws, run_id, space_id, exact["query_id"], new_ids
        )
    copy_ids = np.concatenate([exact["query_id"], near_ids]).astype(np.int64)
    canonical, moved = _to_shown_texts(
        copy_ids, np.concatenate([exact["canonical"], near_canonical]).astype(np.int64)
    )
    is_exact = np.arange(len(copy_ids)) < len(exact["query_id"])
    via_near = is_exact & moved  # an exact copy of a near copy: near the text it shows
    import pyarrow as pa  # only when marking copies: not on the TUI's start-up path

    kinds = np.where(is_exact & ~via_near, "exact", "near").tolist()
    copies = pa.table({"query_id": copy_ids, "canonical_id": canonical, "kind": kinds})
    ws.con.register("new_copies", copies)
    try:
        with transaction(ws.con):  # only the marks that changed: an edit changes few
            ws.con.execute(
                "DELETE FROM duplicates d WHERE run_id = ? AND NOT EXISTS (SELECT 1 FROM "
                "new_copies n WHERE n.query_id = d.query_id AND n.canonical_id = d.canonical_id "
                "AND n.kind = d.kind)",
                [run_id],
            )
            ws.con.execute(
                "INSERT INTO duplicates SELECT ?, query_id, canonical_id, kind FROM new_copies n "
                "WHERE NOT EXISTS (SELECT 1 FROM duplicates d WHERE d.run_id = ? "
                "AND d.query_id = n.query_id)",
                [run_id, run_id],
            )
    finally:
        ws.con.unregister("new_copies")
    counts = {
        "exact": int((is_exact & ~via_near).sum()),
        "near": len(near_ids) + int(via_near.sum()),
        "seconds": round(time.perf_counter() - started, 2),
    }
    progress(Progress("duplicates", 2, 2, f"{counts['exact']:,} exact, {counts['near']:,} near"))
    return counts


def _hash_new_texts(ws: Workspace, run_id: str) -> None:
    """Keep the text identity of the run's members that have none yet: the first marking
    of a run normalises every text, later ones (assign, move, merge) only new queries'."""
    ws.con.execute(
        f"""
        INSERT INTO text_hashes
        SELECT query_id, {NORMALISED_TEXT_HASH} FROM queries
        WHERE query_id IN (SELECT query_id FROM query_clusters WHERE run_id = ?)
          AND query_id NOT IN (SELECT query_id FROM text_hashes)
        """,
        [run_id],
    )


def repeated_members_sql(run: str = "?", cluster: str | None = None) -> str:
    """SQL of the members that repeat a text another member of their cluster shows:
    (query_id, cluster_id, shown_as: the member that shows the text).

    A cluster shows each text once: by its original when the original is a member, else
    by its first copy (a curation edit can move an original and leave its copies behind).
    `run` and `cluster` are the query's parameter placeholders ("?", "$run").
    """
    only = f" AND c.cluster_id = {cluster}" if cluster else ""
    return f"""
        SELECT query_id, cluster_id, shown_as FROM (
            SELECT c.query_id, c.cluster_id,
                first(c.query_id) OVER text_in_cluster AS shown_as,
                row_number() OVER text_in_cluster AS nth
            FROM query_clusters c
            LEFT JOIN duplicates d ON d.run_id = c.run_id AND d.query_id = c.query_id
            WHERE c.run_id = {run}{only}
            WINDOW text_in_cluster AS (
                PARTITION BY c.cluster_id, coalesce(d.canonical_id, c.query_id)
                ORDER BY d.canonical_id IS NOT NULL, c.query_id)
        ) WHERE nth > 1
    """


def copies_per_cluster(con, run_id: str, cluster_id: int | None = None) -> dict[int, int]:
    """How many of each cluster's queries repeat a text it shows once (its unique count
    is size less these); clusters without copies are absent. One cluster only when
    `cluster_id` (0.18 s for a whole run of 1M rows, 930k of them copies)."""
    if cluster_id is None:
        sql, parameters = repeated_members_sql(), [run_id]
    else:
        sql, parameters = repeated_members_sql("?", "?"), [run_id, cluster_id]
    rows = con.execute(f"SELECT cluster_id, count(*) FROM ({sql}) GROUP BY 1", parameters)
    return dict(rows.fetchall())


def _to_shown_texts(copy_ids: np.ndarray, canonical: np.ndarray):
    """Each copy's canonical id followed through canonicals that are copies themselves (a
    text with exact copies that is a near copy; near groups joined by a merge) to the
    text its group shows; and which copies moved."""
    if not len(copy_ids):
        return canonical, np.zeros(0, bool)
    order = np.argsort(copy_ids)
    ids, targets = copy_ids[order], canonical[order]
    resolved = canonical.copy()
    for _ in range(len(ids)):  # a chain is a step or two long; never a cycle
        at = np.minimum(np.searchsorted(ids, resolved), len(ids) - 1)
        step = ids[at] == resolved
        if not step.any():
            break
        resolved = np.where(step, targets[at], resolved)
    return resolved, resolved != canonical


def _near_copies(ws: Workspace, run_id: str, space_id: str, exact_ids: np.ndarray):
    members = ws.con.execute(
        """
        SELECT c.cluster_id, c.query_id, e.row_index
        FROM query_clusters c JOIN embeddings e ON e.space_id = ? AND e.query_id = c.query_id
        WHERE c.run_id = ? AND c.cluster_id >= 0
          AND c.query_id NOT IN (SELECT unnest(?::BIGINT[]))
        ORDER BY c.cluster_id, c.distance, c.query_id
        """,
        [space_id, run_id, exact_ids.tolist()],
    ).fetchnumpy()
    matrix = ws.vector_file(space_id).array()
    found_ids, found_canonical = [], []
    for start, end in _cluster_bounds(members["cluster_id"]):
        if end - start < 2:
            continue
        vectors = _read_rows(matrix, members["row_index"][start:end])
        parent = _groups(vectors)
        ids = members["query_id"][start:end]
        copy = parent != np.arange(len(parent))
        found_ids.append(ids[copy])
        found_canonical.append(ids[parent[copy]])
    if not found_ids:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(found_ids), np.concatenate(found_canonical)


def _near_copies_of_new(
    ws: Workspace, run_id: str, space_id: str, exact_ids: np.ndarray, new_ids: np.ndarray
):
    """(copy ids, canonical ids): the run's earlier near marks, plus each new query that
    nearly copies a text its cluster shows (nearest the centroid first), else an earlier
    new one."""
    exact = exact_ids.tolist()  # a parameter of both queries: converted once
    earlier = ws.con.execute(
        "SELECT query_id, canonical_id FROM duplicates WHERE run_id = ? AND kind = 'near' "
        "AND query_id NOT IN (SELECT unnest(?::BIGINT[]))",
        [run_id, exact],
    ).fetchnumpy()
    # The texts the clusters that received new queries show: no exact or near copies.
    members = ws.con.execute(
        """
        WITH new AS (SELECT unnest(?::BIGINT[]) AS query_id)
        SELECT c.cluster_id, c.query_id, e.row_index, c.query_id IN (SELECT * FROM new) AS new
        FROM query_clusters c JOIN embeddings e ON e.space_id = ? AND e.query_id = c.query_id
        WHERE c.run_id = ? AND c.cluster_id >= 0
          AND c.cluster_id IN (SELECT cluster_id FROM query_clusters
                               WHERE run_id = ? AND query_id IN (SELECT * FROM new))
          AND c.query_id NOT IN (SELECT unnest(?::BIGINT[]))
          AND c.query_id NOT IN (SELECT query_id FROM duplicates WHERE run_id = ?)
        ORDER BY c.cluster_id, c.distance, c.query_id
        """,
        [new_ids.tolist(), space_id, run_id, run_id, exact, run_id],
    ).fetchnumpy()
    matrix = ws.vector_file(space_id).array()
    found_ids, found_canonical = [earlier["query_id"]], [earlier["canonical_id"]]
    for start, end in _cluster_bounds(members["cluster_id"]):
        is_new = members["new"][start:end]
        if not is_new.any() or end - start < 2:
            continue
        ids = members["query_id"][start:end]
        vectors = _read_rows(matrix, members["row_index"][start:end])
        canonical = _canonical_of_new(vectors[~is_new], ids[~is_new], vectors[is_new], ids[is_new])
        copy = canonical >= 0
        found_ids.append(ids[is_new][copy])
        found_canonical.append(canonical[copy])
    return np.concatenate(found_ids), np.concatenate(found_canonical)


def _canonical_of_new(old, old_ids, new, new_ids) -> np.ndarray:
    """For each new row (nearest the centroid first): the id of the first old row it
    nearly copies, else the canonical of the first earlier new row it copies, else -1."""
    canonical = np.full(len(new), -1, np.int64)
    block = max(64, _BLOCK_CELLS // (len(old) + len(new)))
    for start in range(0, len(new), block):
        rows = np.arange(start, min(start + block, len(new)))
        to_old = new[rows] @ old.T >= NEAR_COSINE
        has_old = to_old.any(axis=1)
        if has_old.any():
            canonical[rows[has_old]] = old_ids[to_old[has_old].argmax(axis=1)]
        to_new = new[rows] @ new.T >= NEAR_COSINE
        to_new &= np.arange(len(new))[None, :] < rows[:, None]  # only earlier new rows
        linked = ~has_old & to_new.any(axis=1)
        for i, j in zip(rows[linked], to_new[linked].argmax(axis=1), strict=True):
            canonical[i] = canonical[j] if canonical[j] >= 0 else new_ids[j]  # j < i: final
    return canonical


def _cluster_bounds(clusters: np.ndarray):
    """(start, end) of each run of one cluster id in rows sorted by cluster."""
    bounds = np.flatnonzero(np.diff(clusters)) + 1
    return zip(np.r_[0, bounds], np.r_[bounds, len(clusters)], strict=True)


def _read_rows(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """float32 copies of `rows` of the vector file, read in file order."""
    order = np.argsort(rows)
    vectors = np.empty((len(rows), matrix.shape[1]), np.float32)
    vectors[order] = matrix[rows[order]]
    return vectors


def _groups(vectors: np.ndarray) -> np.ndarray:
    """For each row (rows ordered nearest the centroid first), the first row of its group.

    Each row links to the earliest row it nearly copies, so a group is a chain of such
    links: linear in memory even when thousands of rows copy one template.
    """
    n = len(vectors)
    link = np.arange(n)
    block = max(64, _BLOCK_CELLS // n)
    for start in range(0, n, block):
        similar = vectors[start : start + block] @ vectors.T >= NEAR_COSINE
        rows = np.arange(start, min(start + block, n))
        similar &= np.arange(n)[None, :] < rows[:, None]  # only earlier rows
        has = similar.any(axis=1)
        link[rows[has]] = similar[has].argmax(axis=1)
    for i in np.flatnonzero(link != np.arange(n)):  # links point backwards: one pass
        link[i] = link[link[i]]
    return link
