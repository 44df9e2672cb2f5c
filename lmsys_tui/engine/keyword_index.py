"""A BM25 keyword index kept in DuckDB: postings of every query's words, updated as loads add
queries.

Words are runs of letters or digits of any script, lowercased; Chinese and Japanese text
(written without spaces) becomes overlapping character bigrams, so a search for "机器学习"
finds "什么是机器学习". Single Latin letters are not indexed. The same SQL tokenizes the
indexed queries and the search text, so both always agree.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import duckdb
import numpy as np

from .keywords import stop_words as common_words
from .progress import Progress, ProgressSink, null_sink
from .store import transaction
from .workspace import Workspace

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
_WORD = rf"[{_CJK}]+|(?:[^\PL{_CJK}]|\pN)+"

# (query_id, query_text) rows in `source` -> (query_id, term, tf).
_POSTINGS_SQL = f"""
SELECT query_id, term, count(*)::INTEGER AS tf FROM (
    SELECT query_id, unnest(
        CASE WHEN length(word) > 1 AND regexp_matches(word, '^[{_CJK}]')
        THEN list_transform(range(length(word) - 1), lambda i: substr(word, i + 1, 2))
        ELSE [word] END) AS term
    FROM (
        SELECT query_id, unnest(regexp_extract_all(lower(query_text), '{_WORD}')) AS word
        FROM {{source}}
    )
)
WHERE length(term) > 1 OR regexp_matches(term, '^[{_CJK}\\pN]$')
GROUP BY query_id, term
"""

# BM25 parameters (the usual defaults).
K1 = 1.2
B = 0.75
# Stop words ("how", "to", "der") are dropped from a search that has other words, and so
# are terms in more than this share of queries are dropped from a search that has rarer ones:
# they barely change the ranking and are the slowest to score.
COMMON_TERM_SHARE = 0.2

CHUNK_QUERIES = 100_000


@dataclass
class KeywordIndexResult:
    indexed: int
    already_indexed: int
    terms: int
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def update_keyword_index(
    ws: Workspace, progress: ProgressSink = null_sink, rebuild: bool = False
) -> KeywordIndexResult:
    """Index every query that has no postings yet (all of them when `rebuild`)."""
    started = time.perf_counter()
    con = ws.con
    if rebuild:
        with transaction(con):
            for table in ("keyword_postings", "keyword_docs", "keyword_terms"):
                con.execute(f"DELETE FROM {table}")
    pending = con.execute(
        "SELECT query_id FROM queries q WHERE NOT EXISTS "
        "(SELECT 1 FROM keyword_docs d WHERE d.query_id = q.query_id) ORDER BY query_id"
    ).fetchnumpy()["query_id"]
    already = ws.count("keyword_docs")
    progress(Progress("keywords", 0, len(pending), "indexing words"))
    for start in range(0, len(pending), CHUNK_QUERIES):
        ids = pending[start : start + CHUNK_QUERIES]
        _index_chunk(ws, int(ids[0]), int(ids[-1]))
        progress(Progress("keywords", start + len(ids), len(pending)))
    terms = ws.count("keyword_terms")
    return KeywordIndexResult(len(pending), already, terms, time.perf_counter() - started)


def _index_chunk(ws: Workspace, first_id: int, last_id: int) -> None:
    """Index the unindexed queries with ids in [first_id, last_id], in one transaction."""
    con = ws.con
    source = (
        "(SELECT query_id, query_text FROM queries q WHERE query_id BETWEEN $first AND $last "
        "AND NOT EXISTS (SELECT 1 FROM keyword_docs d WHERE d.query_id = q.query_id))"
    )
    params = {"first": first_id, "last": last_id}
    with transaction(con):
        con.execute(
            "CREATE TEMP TABLE new_postings AS " + _POSTINGS_SQL.replace("{source}", source), params
        )
        try:
            con.execute(
                "INSERT INTO keyword_postings SELECT term, query_id, tf FROM new_postings "
                "ORDER BY term"
            )
            con.execute(
                f"""
                INSERT INTO keyword_docs
                SELECT s.query_id, coalesce(sum(p.tf), 0)::INTEGER FROM {source} s
                LEFT JOIN new_postings p USING (query_id) GROUP BY s.query_id
                """,
                params,
            )
            con.execute(
                """
                INSERT INTO keyword_terms SELECT term, count(*) FROM new_postings GROUP BY term
                ON CONFLICT (term) DO UPDATE SET df = df + excluded.df
                """
            )
        finally:
            con.execute("DROP TABLE new_postings")


def search_terms(con: duckdb.DuckDBPyConnection, text: str) -> list[str]:
    """The terms of a search text, tokenized as the indexed queries are."""
    rows = con.execute(
        "SELECT DISTINCT term FROM ("
        + _POSTINGS_SQL.replace("{source}", "(SELECT 0 AS query_id, $text AS query_text)")
        + ") ORDER BY term",
        {"text": text},
    ).fetchall()
    return [row[0] for row in rows]


def keyword_scores(
    con: duckdb.DuckDBPyConnection, terms: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """BM25 scores of every query that holds at least one of the terms (see search_terms).

    Returns (query_ids, scores), unsorted; empty arrays when no term matches.
    """
    terms = [term for term in terms if term not in common_words()] or terms
    empty = np.zeros(0, np.int64), np.zeros(0, np.float64)
    if not terms:
        return empty
    n_docs, mean_terms = con.execute(
        "SELECT count(*), coalesce(avg(n_terms), 0) FROM keyword_docs"
    ).fetchall()[0]
    known = con.execute(
        "SELECT term, df FROM keyword_terms WHERE term IN (SELECT unnest($terms))",
        {"terms": terms},
    ).fetchall()
    rare = [term for term, df in known if df <= COMMON_TERM_SHARE * n_docs]
    chosen = rare or [term for term, _ in known]
    if not chosen:
        return empty
    found = con.execute(
        """
        WITH q AS (
            SELECT term, ln(1 + ($n - df + 0.5) / (df + 0.5)) AS idf FROM keyword_terms
            WHERE term IN (SELECT unnest($terms)))
        SELECT p.query_id,
            sum(q.idf * p.tf * ($k1 + 1)
                / (p.tf + $k1 * (1 - $b + $b * d.n_terms / $mean)))::DOUBLE AS score
        FROM keyword_postings p JOIN q USING (term) JOIN keyword_docs d USING (query_id)
        GROUP BY p.query_id
        """,
        {"n": n_docs, "terms": chosen, "k1": K1, "b": B, "mean": max(mean_terms, 1.0)},
    ).fetchnumpy()
    return found["query_id"].astype(np.int64), found["score"].astype(np.float64)
