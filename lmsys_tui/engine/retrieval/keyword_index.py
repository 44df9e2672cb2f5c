"""A BM25 keyword index of every query, kept on disk with Tantivy beside the workspace.

Words are runs of letters or digits of any script, lowercased; single Latin letters are
not indexed. Chinese and Japanese text (written without spaces) becomes overlapping
character bigrams, and a search for a run of such characters needs all of its bigrams, so
"机器学习" finds "什么是机器学习". Positions are not stored (a third of the build time).

Tantivy (Rust) tokenizes and writes a million prompts in 15-20 s on 2 cores, where the
DuckDB postings tables it replaces took 40 s and more; a search reads only the best
matches, in milliseconds (docs/benchmarks.md).
Queries only ever get new, larger ids, so the index is brought up to date by adding the
queries above the largest id it holds; each chunk is one Tantivy commit, so an
interrupted build resumes where it stopped.
"""

from __future__ import annotations

import functools
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import LmsysError
from ..progress import Progress, ProgressSink, null_sink
from ..workspace import Workspace
from .keywords import stop_words as common_words

# Chinese and Japanese characters: indexed as overlapping bigrams (module docstring).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_CJK_RUN = re.compile(f"([{_CJK}]+)")
_SINGLE_LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
TOKENIZER = "lmsys_words"
MAX_TOKEN_CHARS = 40  # longer "words" are base64, hashes and minified code
CHUNK_QUERIES = 200_000
WRITER_HEAP_BYTES = 256_000_000
INDEX_FOLDER = "keywords"


class KeywordIndexError(LmsysError):
    """The keyword index cannot be opened or written."""


class KeywordIndexBusy(KeywordIndexError):
    """Another process is writing the keyword index."""


@dataclass
class KeywordIndexResult:
    indexed: int
    already_indexed: int
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def keyword_index_path(ws: Workspace) -> Path:
    return ws.root / "index" / INDEX_FOLDER


@functools.cache
def _analyzer():
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.custom_stopword(_SINGLE_LETTERS))
        .build()
    )


def _schema():
    import tantivy

    return (
        tantivy.SchemaBuilder()
        .add_integer_field("query_id", stored=False, indexed=True, fast=True)
        .add_text_field("text", stored=False, tokenizer_name=TOKENIZER, index_option="freq")
        .build()
    )


def _open(path: Path, create: bool):
    import tantivy

    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        elif not path.is_dir() or not tantivy.Index.exists(str(path)):
            return None
        index = tantivy.Index(_schema(), path=str(path), reuse=True)
    except (ValueError, OSError) as error:
        raise KeywordIndexError(f"keyword index {path}: {error}") from error
    index.register_tokenizer(TOKENIZER, _analyzer())
    return index


def _spaced(text: str | None) -> str:
    """The text with every run of Chinese or Japanese characters as its bigrams."""
    if not text:
        return ""
    if text.isascii() or not _CJK_CHAR.search(text):
        return text
    return _CJK_RUN.sub(lambda run: " " + " ".join(_bigrams(run.group())) + " ", text)


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)] or [run]


def _largest_id(index) -> int | None:
    """The largest query id in the index (None when it is empty)."""
    import tantivy

    index.reload()
    searcher = index.searcher()
    if searcher.num_docs == 0:
        return None
    hits = searcher.search(tantivy.Query.all_query(), 1, order_by_field="query_id").hits
    return int(hits[0][0])


def update_keyword_index(
    ws: Workspace, progress: ProgressSink = null_sink, rebuild: bool = False
) -> KeywordIndexResult:
    """Index every query the index does not hold yet (all of them when `rebuild`)."""
    import tantivy

    started = time.perf_counter()
    path = keyword_index_path(ws)
    if rebuild:
        shutil.rmtree(path, ignore_errors=True)
    index = _open(path, create=True)
    largest = _largest_id(index)
    already = index.searcher().num_docs
    con = ws.con.cursor()
    try:
        if largest is not None:
            below = con.execute(
                "SELECT count(*) FROM queries WHERE query_id <= ?", [largest]
            ).fetchall()[0][0]
            if below != already:  # copied from another workspace, or the database went back
                progress(Progress("keywords", 0, 1, "keyword index out of step: rebuilding"))
                del index
                shutil.rmtree(path, ignore_errors=True)
                index = _open(path, create=True)
                largest, already = None, 0
        pending = con.execute(
            "SELECT count(*) FROM queries WHERE query_id > ?", [-1 if largest is None else largest]
        ).fetchall()[0][0]
        progress(Progress("keywords", 0, pending, "indexing words"))
        if pending:
            try:
                writer = index.writer(heap_size=WRITER_HEAP_BYTES)
            except ValueError as error:  # Tantivy's lock: one writer at a time
                raise KeywordIndexBusy(
                    f"keyword index {path} is being written by another process ({error})"
                ) from error
            reader = con.sql(
                "SELECT query_id, query_text FROM queries WHERE query_id > ? ORDER BY query_id",
                params=[-1 if largest is None else largest],
            ).to_arrow_reader(CHUNK_QUERIES)
            done = 0
            try:
                for batch in reader:
                    ids = batch.column(0).to_pylist()
                    texts = batch.column(1).to_pylist()
                    for query_id, text in zip(ids, texts, strict=True):
                        writer.add_document(tantivy.Document(query_id=query_id, text=_spaced(text)))
                    writer.commit()  # a resumable point: the next run starts after this id
                    done += len(ids)
                    progress(Progress("keywords", done, pending))
                writer.wait_merging_threads()
            except BaseException:
                writer.rollback()
                raise
    except (OSError, ValueError) as error:  # Tantivy reports I/O failures as ValueError
        raise KeywordIndexError(f"keyword index {path}: {error}") from error
    finally:
        con.close()
    return KeywordIndexResult(pending, already, time.perf_counter() - started)


def indexed_count(ws: Workspace) -> int:
    """How many queries the keyword index holds (0 when there is none)."""
    return KeywordIndex(ws).count()


def search_terms(text: str) -> list[str]:
    """The words of a search text as the index holds them (CJK runs kept whole).

    Stop words ("how", "to", "der") are left out when the text has other words.
    """
    analyzer = _analyzer()
    terms: list[str] = []
    for part in _CJK_RUN.split(text):
        if _CJK_RUN.fullmatch(part):
            terms.append(part)
        else:
            terms += analyzer.analyze(part)
    terms = list(dict.fromkeys(terms))
    return [term for term in terms if term not in common_words()] or terms


class KeywordIndex:
    """A reader of the keyword index: the best BM25 matches of a search's terms."""

    def __init__(self, ws: Workspace) -> None:
        self.path = keyword_index_path(ws)
        self._index = _open(self.path, create=False)

    def count(self) -> int:
        """How many queries the index holds."""
        if self._index is None:
            return 0
        self._index.reload()
        return self._index.searcher().num_docs

    def search(
        self, terms: list[str], limit: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """(query ids, scores) of the best `limit` matches, and how many match in all.

        `allowed_ids` restricts the matches to those queries.
        """
        import tantivy

        empty = np.zeros(0, np.int64), np.zeros(0, np.float64), 0
        if self._index is None or not terms or limit <= 0:
            return empty
        index = self._index
        index.reload()  # see what a running job added since the last search
        schema = index.schema
        clauses = []
        for term in terms:
            if _CJK_RUN.fullmatch(term) and len(term) > 2:
                bigrams = [
                    (tantivy.Occur.Must, tantivy.Query.term_query(schema, "text", bigram))
                    for bigram in dict.fromkeys(_bigrams(term))
                ]
                query = tantivy.Query.boolean_query(bigrams)
            else:
                query = tantivy.Query.term_query(schema, "text", term)
            clauses.append((tantivy.Occur.Should, query))
        query = tantivy.Query.boolean_query(clauses)
        if allowed_ids is not None:
            if len(allowed_ids) == 0:
                return empty
            allowed = tantivy.Query.term_set_query(schema, "query_id", allowed_ids.tolist())
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, query), (tantivy.Occur.Must, allowed)]
            )
        searcher = index.searcher()
        if searcher.num_docs == 0:
            return empty
        try:
            found = searcher.search(query, limit, count=True)
        except ValueError as error:
            raise KeywordIndexError(f"keyword search failed: {error}") from error
        if not found.hits:
            return empty[0], empty[1], found.count
        scores = np.fromiter((score for score, _ in found.hits), np.float64, len(found.hits))
        ids = searcher.fast_field_values("query_id", [address for _, address in found.hits])
        return np.asarray(ids, dtype=np.int64), scores, int(found.count)
