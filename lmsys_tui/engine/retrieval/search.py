"""Search queries and clusters: semantic (USearch), keyword (BM25) and hybrid (RRF).

A `Searcher` is scoped to one clustering run, and so to the run's embedding space: it
never mixes spaces. It loads, once, per-query arrays (query id, vector row, cluster,
language, model) so that filters and facets are numpy work, not SQL, on every keystroke.

Filters are applied before ranking, never after a global top-k: a selective filter is
answered by exact search over the vectors it allows; a broad one by an ANN search widened
until enough results pass.

Facets count the candidates a search ranked: the `pool` best keyword matches, the `pool`
nearest queries for semantic search, and the union of both for hybrid search. A text
and its exact copies are one hit that counts them; when copies leave fewer than the hits
asked for, the pool widens (to MAX_POOL candidates at most).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from ..browse import UNKNOWN, cluster_title, unknown_run
from ..embedding.embed import space_embedder
from ..enrich.duplicates import NORMALISED_TEXT_HASH
from ..errors import LmsysError
from ..progress import ProgressSink, null_sink
from ..workspace import Workspace
from .index import open_query_index, open_summary_index
from .keyword_index import KeywordIndex, KeywordIndexBusy, search_terms, update_keyword_index

Mode = Literal["semantic", "keyword", "hybrid"]
MODES: tuple[str, ...] = ("semantic", "keyword", "hybrid")
FACETS: tuple[str, ...] = ("cluster", "language", "model")

# Measured costs (benchmarks/search.py, 1M vectors, 2 cores): an exact search reads and
# scores a vector in ~0.25 us; the ANN index spends ~9 us per result when asked for more
# than a few hundred. A filtered search takes whichever is cheaper.
EXACT_COST_PER_ROW = 0.25
ANN_COST_PER_RESULT = 9.0
# Keyword search under a filter (benchmarks/search.py, 1M queries): naming the allowed
# queries to Tantivy costs ~7 us each; reading a hit's query id to filter it here ~0.6 us.
KEYWORD_COST_PER_ALLOWED = 7.0
KEYWORD_COST_PER_HIT = 0.6
RRF_K = 60
MAX_POOL = 4800  # candidates a search widens to when copies of a few texts fill its pool
NOT_IN_RUN = -2  # cluster code of a query the run did not cluster (embedded later)
SNIPPET_CHARS = 160


class SearchError(LmsysError):
    """A search cannot run: unknown run, space, summary run or query, or nothing indexed."""


@dataclass(frozen=True)
class SearchFilters:
    """Which queries a search may return. Empty fields do not filter."""

    cluster_ids: tuple[int, ...] = ()
    language: str | None = None
    model: str | None = None
    within_clusters: str | None = None  # keep the clusters whose summaries match this text
    top_clusters: int = 3


@dataclass
class QueryHit:
    query_id: int
    score: float
    snippet: str
    model: str | None
    language: str | None
    cluster_id: int | None
    # Other queries of the run with the same text (exact copies), shown once; for a query
    # the run does not hold, the other candidates of the search with its text.
    copies: int = 0


@dataclass
class FacetCount:
    value: str | int | None
    label: str
    count: int


@dataclass
class QuerySearch:
    text: str
    mode: str
    run_id: str | None
    space_id: str | None
    hits: list[QueryHit]
    candidates: int
    # Queries holding the search's words (keyword and hybrid searches), None when a
    # filter leaves the number unknown.
    matches: int | None = None
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)
    within_clusters: list[int] | None = None

    def known_facets(self) -> dict[str, list[FacetCount]]:
        """The facets to show people: one whose every hit lacks the value (data without
        a model field) says nothing and is left out; `as_dict` keeps them all."""
        return {
            name: counts
            for name, counts in self.facets.items()
            if any(count.value is not None for count in counts)
        }

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ClusterHit:
    cluster_id: int
    title: str
    description: str | None
    size: int
    score: float


def _require_text(text: str) -> None:
    if not text.strip():
        raise SearchError("the search text is empty: give a few words to search for")


class Searcher:
    """Searches one workspace within one run (default: the newest) and its space."""

    def __init__(
        self,
        ws: Workspace,
        run_id: str | None = None,
        space_id: str | None = None,
        summary_run_id: str | None = None,
        embedder=None,
        progress: ProgressSink = null_sink,
    ) -> None:
        self.ws = ws
        self.progress = progress
        self.run_id, self.space_id = _resolve_scope(ws, run_id, space_id)
        self.summary_run_id = _resolve_summary_run(ws, self.run_id, summary_run_id)
        self._embedder = embedder
        self._index = None
        self._keywords: KeywordIndex | None = None
        self._vectors: np.ndarray | None = None
        self._summary_index: tuple[object, list[int]] | None = None
        self._load_arrays()

    # -- set-up ----------------------------------------------------------------------------

    def _load_arrays(self) -> None:
        """Per-query arrays in query_id order: the basis of filters, facets and mapping."""
        con = self.ws.con.cursor()
        try:
            self.languages = _distinct(con, "language")
            self.models = _distinct(con, "model")
            arrays = con.execute(
                """
                SELECT q.query_id,
                    coalesce(e.row_index, -1) AS row_index,
                    coalesce(c.cluster_id, $not_in_run)::INTEGER AS cluster_id,
                    coalesce(list_position($languages::VARCHAR[], q.language), 0)::INTEGER
                        AS language,
                    coalesce(list_position($models::VARCHAR[], q.model), 0)::INTEGER
                        AS model,
                    CASE WHEN c.cluster_id IS NULL THEN -1
                        ELSE coalesce(d.canonical_id, q.query_id) END AS copy_of
                FROM queries q
                LEFT JOIN embeddings e ON e.query_id = q.query_id AND e.space_id = $space
                LEFT JOIN query_clusters c ON c.query_id = q.query_id AND c.run_id = $run
                LEFT JOIN duplicates d
                    ON d.query_id = q.query_id AND d.run_id = $run AND d.kind = 'exact'
                ORDER BY q.query_id
                """,
                {
                    "space": self.space_id or "",
                    "run": self.run_id or "",
                    "not_in_run": NOT_IN_RUN,
                    "languages": self.languages,
                    "models": self.models,
                },
            ).fetchnumpy()
            self.titles = self._cluster_titles(con)
        finally:
            con.close()
        self.query_ids = np.asarray(arrays["query_id"], dtype=np.int64)
        self.rows = np.asarray(arrays["row_index"], dtype=np.int64)
        self.clusters = np.asarray(arrays["cluster_id"], dtype=np.int32)
        self.language_codes = np.asarray(arrays["language"], dtype=np.int32)
        self.model_codes = np.asarray(arrays["model"], dtype=np.int32)
        # The query whose text each one copies exactly, as the run marked copies (itself
        # when none; -1 for a query the run does not hold: its text is read when needed).
        self.copy_of = np.asarray(arrays["copy_of"], dtype=np.int64)
        # How many of the run's queries have each text, by the query it copies.
        in_run = self.copy_of[self.copy_of >= 0]
        self.text_counts = np.bincount(in_run, minlength=int(in_run.max(initial=0)) + 1)
        self.doc_of_query = np.full(int(self.query_ids.max(initial=0)) + 1, -1, dtype=np.int64)
        self.doc_of_query[self.query_ids] = np.arange(len(self.query_ids))
        embedded = self.rows >= 0
        self.doc_of_row = np.full(int(self.rows.max(initial=-1)) + 1, -1, dtype=np.int64)
        self.doc_of_row[self.rows[embedded]] = np.flatnonzero(embedded)

    def _cluster_titles(self, con) -> dict[int, str]:
        if not self.summary_run_id:
            return {}
        rows = con.execute(
            "SELECT cluster_id, title FROM cluster_summaries WHERE summary_run_id = ?",
            [self.summary_run_id],
        ).fetchall()
        return {cluster_id: title for cluster_id, title in rows if title}

    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = space_embedder(self.ws, self._need_space())
        return self._embedder

    def _need_space(self) -> str:
        if self.space_id is None:
            raise SearchError("no embedded queries to search by meaning: run an embed step first")
        return self.space_id

    @property
    def index(self):
        if self._index is None:
            self._index = open_query_index(self.ws, self._need_space(), self.progress)
        return self._index

    @property
    def vectors(self) -> np.ndarray:
        """The space's vector file, mapped once (each new mapping faults its pages again)."""
        if self._vectors is None:
            self._vectors = self.ws.vector_file(self._need_space()).array()
        return self._vectors

    def warm_up(self, progress: ProgressSink | None = None) -> None:
        """Open the indexes (building the keyword index if a load left it behind) and load
        the model now: a front end calls this in a worker, `progress` tells its user."""
        self.keywords(progress)
        if self.space_id is not None:
            self.embedder.embed(["warm up"])
            _ = self.index

    # -- queries ---------------------------------------------------------------------------

    def search_queries(
        self,
        text: str,
        mode: Mode = "hybrid",
        n: int = 20,
        filters: SearchFilters = SearchFilters(),
        facets: Sequence[str] = FACETS,
        pool: int = 300,
    ) -> QuerySearch:
        """The `n` queries that best match `text`, with facet counts over the candidates."""
        _require_text(text)
        if mode not in MODES:
            raise SearchError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
        unknown = set(facets) - set(FACETS)
        if unknown:
            raise SearchError(f"unknown facet {sorted(unknown)[0]!r}: use {', '.join(FACETS)}")
        mask, within = self._mask(filters)
        terms = search_terms(text) if mode != "semantic" else []
        matches = None
        if mode == "hybrid" and self.space_id is None:
            mode = "keyword"  # nothing embedded yet: the words alone, and the result says so
        vector = None if mode == "keyword" else self.embedder.embed([text])[0]
        count = max(n, pool)
        while True:  # copies are shown once: widen the pool while they leave too few hits
            if mode == "keyword":
                docs, scores, matches = self._keyword(terms, mask, count)
            elif mode == "semantic":
                docs, scores = self._semantic(vector, mask, count, n)
            else:
                docs, scores, matches = self._hybrid(vector, terms, mask, count, n)
            hits = self._shown_hits(docs, scores, n, terms)
            if len(hits) >= n or len(docs) < count or count >= MAX_POOL:
                break
            count *= 4
        return QuerySearch(
            text=text,
            mode=mode,
            run_id=self.run_id,
            space_id=self.space_id,
            hits=hits,
            candidates=len(docs),
            matches=matches,
            facets={name: self._facet(name, docs) for name in facets},
            within_clusters=within,
        )

    def similar(
        self, query_id: int, n: int = 10, filters: SearchFilters = SearchFilters()
    ) -> list[QueryHit]:
        """The nearest neighbours of a query in the searcher's space (itself left out)."""
        doc = self._doc(query_id)
        row = int(self.rows[doc])
        if row < 0:
            raise SearchError(f"query {query_id} has no vector in space {self._need_space()}")
        vector = np.asarray(self.vectors[row], dtype=np.float32)
        mask, _ = self._mask(filters)
        if mask is not None:
            mask = mask.copy()
            mask[doc] = False
        count = n + 1
        while True:  # its own copies are left out and others' shown once, as in a search
            docs, scores = self._semantic(vector, mask, count)
            keep = docs != doc
            hits = self._shown_hits(docs[keep], scores[keep], n, [], leave_out=doc)
            if len(hits) >= n or len(docs) < count or count >= MAX_POOL:
                return hits
            count *= 4

    def _doc(self, query_id: int) -> int:
        doc = int(np.searchsorted(self.query_ids, query_id))
        if doc >= len(self.query_ids) or self.query_ids[doc] != query_id:
            raise SearchError(f"no query with id {query_id}")
        return doc

    def _mask(self, filters: SearchFilters) -> tuple[np.ndarray | None, list[int] | None]:
        """Boolean mask over queries allowed by the filters (None: all of them)."""
        mask = None

        def narrow(allowed: np.ndarray) -> None:
            nonlocal mask
            mask = allowed if mask is None else mask & allowed

        within = None
        cluster_ids = list(filters.cluster_ids)
        if filters.within_clusters:
            within = [
                hit.cluster_id
                for hit in self.search_clusters(filters.within_clusters, filters.top_clusters)
            ]
            cluster_ids = [c for c in cluster_ids if c in within] if cluster_ids else within
            if not cluster_ids:
                cluster_ids = [NOT_IN_RUN - 1]  # nothing can match
        if cluster_ids:
            if self.run_id is None:
                raise SearchError("cluster filters need a clustering run: run a cluster step")
            narrow(np.isin(self.clusters, cluster_ids))
        if filters.language is not None:
            narrow(self.language_codes == _code(self.languages, filters.language))
        if filters.model is not None:
            narrow(self.model_codes == _code(self.models, filters.model))
        return mask, within

    def _semantic(
        self, vector: np.ndarray, mask: np.ndarray | None, count: int, needed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(docs, cosine similarities) of up to `count` nearest allowed queries.

        Under a filter, fewer than `count` (but at least `needed`, the hits to show) may come
        back: the rest of the pool only feeds facet counts, not worth another search.
        """
        needed = count if needed is None else needed
        index = self.index
        if index.size == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        if mask is None:
            matches = index.search(vector, min(count, index.size))
            docs = self._docs_of_rows(matches.keys)
            known = docs >= 0  # rows indexed after this searcher loaded its arrays
            return docs[known], (1.0 - matches.distances)[known]
        allowed = mask & (self.rows >= 0)
        n_allowed = int(allowed.sum())
        if n_allowed == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        # Filters are independent of meaning, so about n_allowed / size of the neighbours
        # pass: ask for a little more than that, and widen when too few do.
        ask = min(index.size, int(min(count, n_allowed) * index.size / n_allowed * 1.2) + 10)
        if n_allowed * EXACT_COST_PER_ROW <= ask * ANN_COST_PER_RESULT:
            return self._exact(vector, np.flatnonzero(allowed), count)
        while True:
            matches = index.search(vector, ask)
            docs = self._docs_of_rows(matches.keys)
            keep = (docs >= 0) & allowed[docs]
            if keep.sum() >= min(needed, n_allowed) or ask >= index.size:
                break
            ask = min(index.size, ask * 2)
        if keep.sum() < min(needed, n_allowed):  # the ANN graph did not reach enough of them
            return self._exact(vector, np.flatnonzero(allowed), count)
        return docs[keep][:count], (1.0 - matches.distances)[keep][:count]

    def _docs_of_rows(self, keys: np.ndarray) -> np.ndarray:
        """Query positions of index keys (vector-file rows); -1 for rows unknown here."""
        rows = np.asarray(keys, dtype=np.int64)
        docs = np.full(len(rows), -1, dtype=np.int64)
        known = rows < len(self.doc_of_row)
        docs[known] = self.doc_of_row[rows[known]]
        return docs

    def _exact(
        self, vector: np.ndarray, docs: np.ndarray, count: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(docs, similarities) of the `count` best of `docs`, by brute force in float16."""
        from usearch.index import MetricKind
        from usearch.index import search as brute_force

        if len(docs) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        rows = self.rows[docs]
        order = np.argsort(rows)  # read the memory map front to back
        docs, rows = docs[order], rows[order]
        matrix = np.ascontiguousarray(self.vectors[rows])
        found = brute_force(
            matrix, vector.astype(matrix.dtype), min(count, len(docs)), MetricKind.IP, exact=True
        )
        positions = np.asarray(found.keys, dtype=np.int64)
        return docs[positions], 1.0 - np.asarray(found.distances, dtype=np.float64)

    def keywords(self, progress: ProgressSink | None = None) -> KeywordIndex:
        """The keyword index, first brought up to date if it misses queries (a load leaves
        that to the first search; a workspace made before v9 has none)."""
        if self._keywords is None:
            index = KeywordIndex(self.ws)
            if index.count() < len(self.query_ids):
                # A job adding to it now holds the writer: search what it holds.
                with contextlib.suppress(KeywordIndexBusy):
                    update_keyword_index(self.ws, progress or self.progress)
                index = KeywordIndex(self.ws)
            self._keywords = index
        return self._keywords

    def _keyword(
        self, terms: list[str], mask: np.ndarray | None, count: int
    ) -> tuple[np.ndarray, np.ndarray, int | None]:
        """(docs, BM25 scores) of the `count` best allowed matches, and how many match.

        A selective filter names its queries to the index; a broad one asks the index for
        enough matches that `count` pass, widening when too few do.
        """
        index = self.keywords()
        if mask is None:
            query_ids, scores, total = index.search(terms, count)
            docs, scores = self._known_docs(query_ids, scores)
            return docs, scores, total
        allowed = np.flatnonzero(mask)
        if len(allowed) == 0:
            return np.zeros(0, np.int64), np.zeros(0), 0
        ask = int(count * len(mask) / len(allowed) * 1.2) + 10
        if len(allowed) * KEYWORD_COST_PER_ALLOWED <= ask * KEYWORD_COST_PER_HIT:
            query_ids, scores, total = index.search(terms, count, self.query_ids[allowed])
            docs, scores = self._known_docs(query_ids, scores)
            return docs, scores, total
        while True:
            query_ids, scores, total = index.search(terms, ask)
            docs, scores = self._known_docs(query_ids, scores)
            keep = mask[docs]
            if keep.sum() >= count or ask >= total:
                break
            ask *= 4
        matches = int(keep.sum()) if ask >= total else None
        return docs[keep][:count], scores[keep][:count], matches

    def _known_docs(self, query_ids: np.ndarray, scores: np.ndarray):
        """(docs, scores) of the query ids this searcher knows (not those loaded since)."""
        known = query_ids < len(self.doc_of_query)
        docs = np.full(len(query_ids), -1, dtype=np.int64)
        docs[known] = self.doc_of_query[query_ids[known]]
        known = docs >= 0
        return docs[known], scores[known]

    def _hybrid(
        self, vector: np.ndarray, terms: list[str], mask: np.ndarray | None, pool: int, needed: int
    ) -> tuple[np.ndarray, np.ndarray, int | None]:
        """Reciprocal-rank fusion of the semantic pool and the best keyword matches."""
        semantic_docs, semantic_scores = self._semantic(vector, mask, pool, needed)
        keyword_docs, keyword_scores_, matches = self._keyword(terms, mask, pool)
        fused: dict[int, float] = {}
        for docs, scores in ((semantic_docs, semantic_scores), (keyword_docs, keyword_scores_)):
            order = _top(docs, scores, self.query_ids, pool)
            for rank, doc in enumerate(docs[order].tolist()):
                fused[doc] = fused.get(doc, 0.0) + 1.0 / (RRF_K + rank + 1)
        docs = np.fromiter(fused.keys(), dtype=np.int64, count=len(fused))
        scores = np.fromiter(fused.values(), dtype=np.float64, count=len(fused))
        return docs, scores, matches

    def _facet(self, name: str, docs: np.ndarray) -> list[FacetCount]:
        if name == "cluster":
            values, counts = np.unique(self.clusters[docs], return_counts=True)
            rows = [
                FacetCount(
                    None if value == NOT_IN_RUN else int(value),
                    self._cluster_label(int(value)),
                    int(count),
                )
                for value, count in zip(values, counts, strict=True)
            ]
        else:
            codes, names = (
                (self.language_codes, self.languages)
                if name == "language"
                else (self.model_codes, self.models)
            )
            counts = np.bincount(codes[docs], minlength=len(names) + 1)
            rows = [
                FacetCount(
                    None if code == 0 else names[code - 1],
                    UNKNOWN if code == 0 else names[code - 1],
                    int(count),
                )
                for code, count in enumerate(counts)
                if count
            ]
        return sorted(rows, key=lambda row: (-row.count, row.label))

    def _cluster_label(self, cluster_id: int) -> str:
        if cluster_id == NOT_IN_RUN:
            return "(not in this run)" if self.run_id else "(no clustering run yet)"
        return cluster_title(cluster_id, self.titles.get(cluster_id))

    def _shown_hits(
        self,
        docs: np.ndarray,
        scores: np.ndarray,
        n: int,
        terms: list[str],
        leave_out: int | None = None,
    ) -> list[QueryHit]:
        """The best `n` candidates with distinct texts, each counting the other candidates
        that copy it (exact copies, as a run's copies are found); copies of `leave_out`'s
        text (a neighbour search's own query) are left out. Fewer than `n` when copies
        fill the candidates.

        Real logs repeat prompts (a greeting, a benchmark pasted by many users): the same
        text filled the results a dozen times over.
        """
        order = _top(docs, scores, self.query_ids, len(docs))
        ranked = docs[order]
        texts = self._texts(ranked if leave_out is None else np.append(ranked, leave_out))
        shown: dict = {}  # text -> its index among the kept
        if leave_out is not None:
            shown[texts.pop()] = None
        kept: list[int] = []
        copies: list[int] = []
        for position, text in enumerate(texts):
            if text in shown:
                if shown[text] is not None:
                    copies[shown[text]] += 1
            elif len(kept) < n:
                shown[text] = len(kept)
                kept.append(position)
                copies.append(0)
        positions = np.asarray(kept, dtype=np.int64)
        hits = self._hits(ranked[positions], scores[order][positions], terms)
        for hit, position, copied in zip(hits, kept, copies, strict=True):
            text = texts[position]  # the run's own count when it holds the query
            hit.copies = int(self.text_counts[text]) - 1 if isinstance(text, int) else copied
        return hits

    def _texts(self, docs: np.ndarray) -> list:
        """Each doc's text identity for telling copies: the query whose text it copies, as
        the run marked them, else (not in the run) a hash of its normalised text."""
        texts: list = self.copy_of[docs].tolist()
        outside = [position for position, text in enumerate(texts) if text < 0]
        if outside:  # loaded after the run, or no run yet
            query_ids = self.query_ids[docs[outside]].tolist()
            hashes = self._text_hashes(query_ids)
            for position, query_id in zip(outside, query_ids, strict=True):
                texts[position] = ("text", hashes.get(query_id, query_id))
        return texts

    def _text_hashes(self, query_ids: list[int]) -> dict[int, int]:
        """Each query's text identity for exact copies, as a run's copies are found: ~10 ms
        per 300 texts, so only for queries without the run's marks."""
        con = self.ws.con.cursor()
        try:
            return dict(
                con.execute(
                    f"SELECT query_id, {NORMALISED_TEXT_HASH} FROM queries "
                    "WHERE query_id IN (SELECT unnest($ids::BIGINT[]))",
                    {"ids": query_ids},
                ).fetchall()
            )
        finally:
            con.close()

    def _hits(self, docs: np.ndarray, scores: np.ndarray, terms: list[str]) -> list[QueryHit]:
        query_ids = self.query_ids[docs].tolist()
        con = self.ws.con.cursor()
        try:
            texts = dict(
                con.execute(
                    "SELECT query_id, query_text FROM queries "
                    "WHERE query_id IN (SELECT unnest($ids::BIGINT[]))",
                    {"ids": query_ids},
                ).fetchall()
            )
        finally:
            con.close()
        hits = []
        for doc, query_id, score in zip(docs.tolist(), query_ids, scores.tolist(), strict=True):
            cluster = int(self.clusters[doc])
            language, model = int(self.language_codes[doc]), int(self.model_codes[doc])
            hits.append(
                QueryHit(
                    query_id=query_id,
                    score=round(float(score), 6),
                    snippet=snippet(texts.get(query_id, ""), terms),
                    model=self.models[model - 1] if model else None,
                    language=self.languages[language - 1] if language else None,
                    cluster_id=None if cluster == NOT_IN_RUN else cluster,
                )
            )
        return hits

    # -- clusters --------------------------------------------------------------------------

    def search_clusters(self, text: str, k: int = 10) -> list[ClusterHit]:
        """The run's clusters whose summaries are closest in meaning to `text`."""
        _require_text(text)
        if self.run_id is None:
            raise SearchError("no clustering run to search: run a cluster step first")
        if self.summary_run_id is None:
            raise SearchError(f"run {self.run_id} has no summaries: run a summarize step first")
        if self._summary_index is None:
            self._summary_index = open_summary_index(
                self.ws, self.summary_run_id, self.progress, self.embedder
            )
        index, cluster_ids = self._summary_index
        if index.size == 0:
            return []
        vector = self.embedder.embed([text])[0]
        matches = index.search(vector, min(k, index.size), exact=True)
        found = {
            cluster_ids[int(key)]: 1.0 - float(distance)
            for key, distance in zip(matches.keys, matches.distances, strict=True)
        }
        con = self.ws.con.cursor()
        try:
            rows = con.execute(
                """
                SELECT s.cluster_id, s.title, s.description, c.size
                FROM cluster_summaries s JOIN clusters c
                    ON c.run_id = $run AND c.cluster_id = s.cluster_id
                WHERE s.summary_run_id = $summary
                    AND s.cluster_id IN (SELECT unnest($ids::INTEGER[]))
                """,
                {"run": self.run_id, "summary": self.summary_run_id, "ids": list(found)},
            ).fetchall()
        finally:
            con.close()
        hits = [
            ClusterHit(cluster_id, title, description, size, round(found[cluster_id], 6))
            for cluster_id, title, description, size in rows
        ]
        return sorted(hits, key=lambda hit: (-hit.score, hit.cluster_id))


def _resolve_scope(
    ws: Workspace, run_id: str | None, space_id: str | None
) -> tuple[str | None, str | None]:
    """(run, space) a search works in; the run decides the space."""
    con = ws.con
    spaces = [
        row[0]
        for row in con.execute("SELECT space_id FROM embedding_spaces ORDER BY space_id").fetchall()
    ]
    if space_id is not None and space_id not in spaces:
        known = ", ".join(spaces) or "none yet"
        raise SearchError(f"no embedding space {space_id!r} (spaces: {known})")
    if run_id is not None:
        rows = con.execute(
            "SELECT space_id FROM clustering_runs WHERE run_id = ? AND status = 'complete'",
            [run_id],
        ).fetchall()
        if not rows:
            raise SearchError(unknown_run(con, run_id))
        if space_id is not None and space_id != rows[0][0]:
            raise SearchError(
                f"run {run_id} lives in space {rows[0][0]}, not {space_id}: "
                "a search never mixes embedding spaces"
            )
        return run_id, rows[0][0]
    latest = con.execute(
        "SELECT run_id, space_id FROM clustering_runs WHERE status = 'complete' "
        "AND (? IS NULL OR space_id = ?) ORDER BY created_at DESC, run_id DESC LIMIT 1",
        [space_id, space_id],
    ).fetchall()
    if latest:
        return latest[0][0], latest[0][1]
    if space_id is None and len(spaces) > 1:
        raise SearchError(
            f"several embedding spaces ({', '.join(spaces)}) and no run: name a run or a space"
        )
    return None, space_id or (spaces[0] if spaces else None)


def _resolve_summary_run(ws: Workspace, run_id: str | None, summary_run_id: str | None):
    """The given summary run (by id or alias), else the run's newest, else None."""
    if run_id is None:
        if summary_run_id is not None:
            raise SearchError("a summary run needs a clustering run to search in")
        return None
    rows = ws.con.execute(
        "SELECT summary_run_id FROM summary_runs WHERE run_id = ? "
        "AND status IN ('complete', 'partial') AND (? IS NULL OR summary_run_id = ? OR alias = ?) "
        "ORDER BY status = 'complete' DESC, created_at DESC, summary_run_id DESC LIMIT 1",
        [run_id, summary_run_id, summary_run_id, summary_run_id],
    ).fetchall()
    if rows:
        return rows[0][0]
    if summary_run_id is not None:
        raise SearchError(f"run {run_id} has no summary run or alias {summary_run_id!r}")
    return None


def _top(docs: np.ndarray, scores: np.ndarray, query_ids: np.ndarray, n: int) -> np.ndarray:
    """Positions of the `n` best scores, best first, ties by query id (stable output)."""
    if len(scores) > n:
        threshold = np.partition(-scores, n - 1)[n - 1]
        candidates = np.flatnonzero(-scores <= threshold)
    else:
        candidates = np.arange(len(scores))
    order = np.lexsort((query_ids[docs[candidates]], -scores[candidates]))
    return candidates[order[:n]]


def _distinct(con, column: str) -> list[str]:
    rows = con.execute(
        f"SELECT DISTINCT {column} FROM queries WHERE {column} IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def _code(names: list[str], value: str) -> int:
    """The code of a language or model (case-insensitive); -1 (matches nothing) if unknown."""
    lowered = [name.lower() for name in names]
    return lowered.index(value.lower()) + 1 if value.lower() in lowered else -1


_SPACES = re.compile(r"\s+")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def snippet(text: str, terms: Sequence[str] = (), width: int = SNIPPET_CHARS) -> str:
    """One line of `text` around the first search term found, control characters removed."""
    flat = _SPACES.sub(" ", _UNPRINTABLE.sub(" ", text)).strip()
    if len(flat) <= width:
        return flat
    lowered = flat.lower()
    positions = [lowered.find(term) for term in terms if term]
    first = min((p for p in positions if p >= 0), default=0)
    start = max(0, min(first - width // 4, len(flat) - width))
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")
