"""Copies within a clustering run: exact duplicates and near-duplicates.

Exact: the same text once lowercased with whitespace, punctuation and symbols collapsed
(one DuckDB window over each text's identity, computed once per query and kept). Near:
within each cluster, unique texts whose vectors have cosine >= NEAR_COSINE to another
are joined (union-find), which catches one template with different short fillers and
small edits. A long template whose filler moves the vector further (a title in the
middle, an instruction in another language) is caught by its characters: long texts
with cosine >= TEMPLATE_COSINE have their first characters compared (rapidfuzz), the
few that need it only. Chosen over MinHash (datasketch) because the vectors are already
there and a cluster bounds the comparisons: no pass over every text. Each copy points at its
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
# Below it, two long texts are near copies when their characters are mostly the same: a
# long template with a filler in the middle, or a translated instruction, moves the
# vector further than a short filler does (measured on ShareGPT: docs/benchmarks.md).
TEMPLATE_COSINE = 0.85  # vectors this alike have their texts compared
TEMPLATE_MIN_BYTES = 200  # UTF-8; shorter texts: a changed word or two changes what is asked
TEMPLATE_SIMILARITY = 80  # rapidfuzz's ratio (0-100) of the texts' first TEMPLATE_CHARS
TEMPLATE_CHARS = 2000
TEMPLATE_CHECKS = 3  # the texts most alike by vector that a text is compared with
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


def _members_sql(extra_where: str = "", extra_select: str = "") -> str:
    """The run's members with their vector rows and whether their text is long enough to
    be compared as a template, nearest their centroid first within each cluster."""
    return f"""
        SELECT c.cluster_id, c.query_id, e.row_index,
               strlen(q.query_text) >= {TEMPLATE_MIN_BYTES} AS long{extra_select}
        FROM query_clusters c
        JOIN embeddings e ON e.space_id = ? AND e.query_id = c.query_id
        JOIN queries q ON q.query_id = c.query_id
        WHERE c.run_id = ? AND c.cluster_id >= 0
          AND c.query_id NOT IN (SELECT unnest(?::BIGINT[])){extra_where}
        ORDER BY c.cluster_id, c.distance, c.query_id
    """


def _near_copies(ws: Workspace, run_id: str, space_id: str, exact_ids: np.ndarray):
    members = ws.con.execute(_members_sql(), [space_id, run_id, exact_ids.tolist()]).fetchnumpy()
    matrix = ws.vector_file(space_id).array()
    templates = _TemplateCheck()
    clusters = []  # (member ids, each one's link to an earlier member or itself, candidates)
    for start, end in _cluster_bounds(members["cluster_id"]):
        if end - start < 2:
            continue
        ids = members["query_id"][start:end]
        vectors = _read_rows(matrix, members["row_index"][start:end])
        link, candidates = _links(vectors, np.asarray(members["long"][start:end], bool))
        for row, rows in candidates.items():
            templates.add(ids[row], ids[rows])
        clusters.append((ids, link, candidates))
    alike = templates.compare(ws)
    found_ids, found_canonical = [], []
    for ids, link, candidates in clusters:
        for row, rows in candidates.items():
            if (copied := alike.get(int(ids[row]))) is not None:
                link[row] = rows[ids[rows] == copied][0]
        parent = _first_of_groups(link)
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
        "WITH new AS (SELECT unnest(?::BIGINT[]) AS query_id) "
        + _members_sql(
            extra_select=", c.query_id IN (SELECT * FROM new) AS new",
            extra_where="""
              AND c.cluster_id IN (SELECT cluster_id FROM query_clusters
                                   WHERE run_id = ? AND query_id IN (SELECT * FROM new))
              AND c.query_id NOT IN (SELECT query_id FROM duplicates WHERE run_id = ?)""",
        ),
        [new_ids.tolist(), space_id, run_id, exact, run_id, run_id],
    ).fetchnumpy()
    matrix = ws.vector_file(space_id).array()
    templates = _TemplateCheck()
    clusters = []  # (new ids, each one's link: an old id, an earlier new id, or -1)
    for start, end in _cluster_bounds(members["cluster_id"]):
        is_new = members["new"][start:end]
        if not is_new.any() or end - start < 2:
            continue
        ids = members["query_id"][start:end]
        long = np.asarray(members["long"][start:end], bool)
        vectors = _read_rows(matrix, members["row_index"][start:end])
        links = _links_of_new(
            (vectors[~is_new], ids[~is_new], long[~is_new]),
            (vectors[is_new], ids[is_new], long[is_new]),
            templates,
        )
        clusters.append((ids[is_new], links))
    alike = templates.compare(ws)
    found_ids, found_canonical = [earlier["query_id"]], [earlier["canonical_id"]]
    for ids, links in clusters:
        for row, query_id in enumerate(ids):
            if links[row] < 0 and int(query_id) in alike:
                links[row] = alike[int(query_id)]
        canonical = _canonical_of_new(links, ids)
        copy = canonical >= 0
        found_ids.append(ids[copy])
        found_canonical.append(canonical[copy])
    return np.concatenate(found_ids), np.concatenate(found_canonical)


def _links_of_new(old, new, templates: _TemplateCheck) -> np.ndarray:
    """For each new row (nearest the centroid first), the id it nearly copies: the first
    old row, else the first earlier new row, else -1. `old` and `new` are (vectors, ids,
    long). A long new row that copies none is handed to `templates` with the long rows
    it may copy as a template."""
    (old_vectors, old_ids, old_long), (vectors, new_ids, new_long) = old, new
    links = np.full(len(vectors), -1, np.int64)
    block = max(64, _BLOCK_CELLS // (len(old_vectors) + len(vectors)))
    earlier = np.arange(len(vectors))
    for start in range(0, len(vectors), block):
        rows = np.arange(start, min(start + block, len(vectors)))
        to_old = vectors[rows] @ old_vectors.T
        to_new = vectors[rows] @ vectors.T
        to_new[earlier[None, :] >= rows[:, None]] = -1  # only earlier new rows
        old_link, old_candidates = _block_links(to_old, new_long[rows], old_long)
        new_link, new_candidates = _block_links(to_new, new_long[rows], new_long)
        on_old, on_new = old_link >= 0, (old_link < 0) & (new_link >= 0)
        links[rows[on_old]] = old_ids[old_link[on_old]]
        links[rows[on_new]] = new_ids[new_link[on_new]]
        for i in old_candidates.keys() | new_candidates.keys():
            if links[rows[i]] >= 0:  # it copies one text by vector and another as a template
                continue
            old_columns, new_columns = old_candidates.get(i, []), new_candidates.get(i, [])
            similarity = np.r_[to_old[i, old_columns], to_new[i, new_columns]]
            candidate_ids = np.r_[old_ids[old_columns], new_ids[new_columns]]
            best = np.argsort(-similarity, kind="stable")[:TEMPLATE_CHECKS]
            templates.add(new_ids[rows[i]], candidate_ids[best])
    return links


def _canonical_of_new(links: np.ndarray, new_ids: np.ndarray) -> np.ndarray:
    """Each new row's canonical id: the old id it links to, or the canonical of the
    earlier new row it links to (that row itself when it has none); -1 for none."""
    canonical = np.full(len(links), -1, np.int64)
    row_of = {int(query_id): row for row, query_id in enumerate(new_ids)}
    for row, target in enumerate(links.tolist()):
        if target < 0:
            continue
        earlier = row_of.get(target)
        if earlier is None:  # an old text
            canonical[row] = target
        else:  # earlier < row: its canonical is final
            canonical[row] = canonical[earlier] if canonical[earlier] >= 0 else target
    return canonical


class _TemplateCheck:
    """Pairs of long texts whose vectors are alike but short of NEAR_COSINE, gathered
    while the clusters are read, then compared with a few reads of their texts: a long
    template whose filler moves its vector keeps most of its characters."""

    TEXTS_PER_READ = 50_000  # texts of up to TEMPLATE_CHARS held at once

    def __init__(self) -> None:
        self.pairs: list[tuple[int, list[int]]] = []  # a text, the texts it may copy

    def add(self, query_id, candidate_ids) -> None:
        self.pairs.append((int(query_id), [int(c) for c in candidate_ids]))

    def compare(self, ws: Workspace) -> dict[int, int]:
        """Each text that copies one of its candidates: the first (most alike vector)
        whose text is at least TEMPLATE_SIMILARITY alike."""
        from rapidfuzz.fuzz import ratio

        alike = {}
        step = max(1, self.TEXTS_PER_READ // (1 + TEMPLATE_CHECKS))
        for start in range(0, len(self.pairs), step):
            pairs = self.pairs[start : start + step]
            ids = sorted({i for query_id, found in pairs for i in (query_id, *found)})
            texts = dict(
                ws.con.execute(
                    "SELECT query_id, left(query_text, ?) FROM queries "
                    "WHERE query_id IN (SELECT unnest(?::BIGINT[]))",
                    [TEMPLATE_CHARS, ids],
                ).fetchall()
            )
            for query_id, found in pairs:
                text = texts[query_id]
                for candidate in found:
                    if ratio(text, texts[candidate], score_cutoff=TEMPLATE_SIMILARITY):
                        alike[query_id] = candidate
                        break
        return alike


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


def _links(vectors: np.ndarray, long: np.ndarray) -> tuple[np.ndarray, dict]:
    """For each row (rows ordered nearest the centroid first), the earliest row it nearly
    copies, else itself; and, for long rows that copy none, the earlier long rows they
    may copy as a template (row -> rows, most alike vector first).

    Each row links to one earlier row, so a group is a chain of such links: linear in
    memory even when thousands of rows copy one template.
    """
    n = len(vectors)
    link = np.arange(n)
    candidates = {}
    block = max(64, _BLOCK_CELLS // n)
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        similarity = vectors[rows] @ vectors.T
        similarity[np.arange(n)[None, :] >= rows[:, None]] = -1  # only earlier rows
        found, templates = _block_links(similarity, long[rows], long)
        link[rows[found >= 0]] = found[found >= 0]
        candidates.update({int(rows[i]): columns for i, columns in templates.items()})
    return link, candidates


def _block_links(similarity: np.ndarray, long_rows: np.ndarray, long_columns: np.ndarray):
    """For a block of rows' similarities to the columns they may copy: each row's first
    column at NEAR_COSINE or more (-1: none); and for a long row with none, up to
    TEMPLATE_CHECKS long columns at TEMPLATE_COSINE or more, most similar first."""
    if similarity.shape[1] == 0:
        return np.full(len(similarity), -1), {}
    near = similarity >= NEAR_COSINE
    has = near.any(axis=1)
    link = np.where(has, near.argmax(axis=1), -1)
    maybe = (similarity >= TEMPLATE_COSINE) & long_columns[None, :]
    maybe[has | ~long_rows] = False
    candidates = {}
    for i in np.flatnonzero(maybe.any(axis=1)):
        columns = np.flatnonzero(maybe[i])
        order = np.argsort(-similarity[i, columns], kind="stable")[:TEMPLATE_CHECKS]
        candidates[int(i)] = columns[order]
    return link, candidates


def _first_of_groups(link: np.ndarray) -> np.ndarray:
    """Each row's group's first row, from links that each point at an earlier row."""
    link = link.copy()
    for i in np.flatnonzero(link != np.arange(len(link))):  # links point backwards: one pass
        link[i] = link[link[i]]
    return link
