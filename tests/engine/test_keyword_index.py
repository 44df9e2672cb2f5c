"""The Tantivy keyword index: built after loads, resumed after an interruption, rebuilt when
it is out of step with DuckDB, and filtered searches that agree with DuckDB."""

from __future__ import annotations

import re
import shutil

import pytest

from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.retrieval import keyword_index, search
from lmsys_tui.engine.retrieval.keyword_index import (
    KeywordIndex,
    indexed_count,
    search_terms,
    update_keyword_index,
)
from lmsys_tui.engine.retrieval.search import Searcher, SearchFilters
from lmsys_tui.engine.specs import LoadStep
from lmsys_tui.engine.workspace import open_workspace
from tests.conftest import fixture_rows, write_jsonl


def _rows(count: int) -> list[dict]:
    base = fixture_rows()
    rows = []
    for i in range(count):
        row = dict(base[i % len(base)], conversation_id=f"c{i}")
        row["language"] = "German" if i % 3 == 0 else "English"
        rows.append(row)
    return rows


@pytest.fixture
def loaded(tmp_path):
    source = write_jsonl(tmp_path / "chats.jsonl", _rows(90))
    with open_workspace(tmp_path / "ws") as ws:
        load(ws, LoadStep(source=str(source)))
        yield ws


def test_an_interrupted_build_resumes_after_its_last_commit(loaded, monkeypatch):
    monkeypatch.setattr(keyword_index, "CHUNK_QUERIES", 40)
    seen = []

    def stop_after_first_chunk(event):
        seen.append(event.done)
        if event.done == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        update_keyword_index(loaded, stop_after_first_chunk)
    assert indexed_count(loaded) == 40
    again = update_keyword_index(loaded)
    assert (again.already_indexed, again.indexed) == (40, 50)
    assert indexed_count(loaded) == 90
    assert update_keyword_index(loaded).indexed == 0


def test_an_index_out_of_step_with_the_database_is_rebuilt(loaded, tmp_path):
    update_keyword_index(loaded)
    other = tmp_path / "other"
    source = write_jsonl(tmp_path / "few.jsonl", _rows(5))
    with open_workspace(other) as small:
        load(small, LoadStep(source=str(source)))
        target = keyword_index.keyword_index_path(small)
        shutil.copytree(keyword_index.keyword_index_path(loaded), target)  # 90 docs, 5 queries
        messages = []
        result = update_keyword_index(small, lambda event: messages.append(event.message))
        assert "keyword index out of step: rebuilding" in messages
        assert (result.already_indexed, result.indexed) == (0, 5)
        assert indexed_count(small) == 5


def test_search_terms_drop_stop_words_and_keep_cjk_runs_whole():
    assert search_terms("How to JOIN tables") == ["join", "tables"]
    assert search_terms("the") == ["the"]
    assert search_terms("什么是机器学习 in Python") == ["什么是机器学习", "python"]
    assert search_terms("a b c") == []  # single Latin letters are not indexed


@pytest.mark.parametrize("path", ["name the allowed queries", "widen until enough pass"])
def test_filtered_keyword_search_agrees_with_duckdb(loaded, monkeypatch, path):
    if path == "name the allowed queries":
        monkeypatch.setattr(search, "KEYWORD_COST_PER_ALLOWED", 0.0)
    else:
        monkeypatch.setattr(search, "KEYWORD_COST_PER_HIT", 0.0)
    searcher = Searcher(loaded)
    found = searcher.search_queries(
        "recipe", mode="keyword", n=100, filters=SearchFilters(language="German")
    )
    truth = {
        query_id
        for query_id, text in loaded.con.execute(
            "SELECT query_id, query_text FROM queries WHERE language = 'German'"
        ).fetchall()
        if re.search(r"\brecipe\b", text, re.IGNORECASE)
    }
    # The fixture holds each text three times: one hit per text, its copies counted.
    assert truth and {hit.query_id for hit in found.hits} <= truth
    assert sum(hit.copies + 1 for hit in found.hits) == len(truth)
    assert found.matches == len(truth)
    assert all(hit.language == "German" for hit in found.hits)


def test_a_search_before_any_index_builds_it(loaded):
    assert not KeywordIndex(loaded).count()
    found = Searcher(loaded).search_queries("itinerary", mode="keyword", n=5)
    assert found.hits and indexed_count(loaded) == 90
    assert found.matches == 3 * sum(
        "itinerary" in r["conversation"][0]["content"].lower() for r in fixture_rows()
    )
