"""Search on real embeddings (the bundled model) of the fixture, checked against DuckDB."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from lmsys_tui.engine.jobs import run_job
from lmsys_tui.engine.retrieval.index import (
    check_query_index,
    check_summary_index,
    query_index_path,
    summary_index_path,
    update_query_index,
)
from lmsys_tui.engine.retrieval.search import Searcher, SearchError, SearchFilters, snippet
from lmsys_tui.engine.specs import (
    ClusterStep,
    EmbedStep,
    JobSpec,
    LoadStep,
    SummarizeStep,
)
from lmsys_tui.engine.workspace import open_workspace
from tests.conftest import fixture_rows, write_jsonl

EXTRA_ROWS = [
    ("sql-de", "Wie schreibe ich eine SQL Abfrage mit JOIN über zwei Tabellen?", "German"),
    ("cooking-de", "Wie backe ich ein einfaches Brot mit Sauerteig?", "German"),
    ("cooking-zh", "如何用米饭和鸡蛋做炒饭？请给我一个食谱", "Chinese"),
    ("ml-zh", "什么是机器学习？请用简单的话解释", "Chinese"),
]


@pytest.fixture(scope="module")
def search_root(tmp_path_factory):
    """The fixture plus German and Chinese prompts: loaded, embedded, clustered (k=3),
    summarized offline, all through run_job so the indexes are built as a job builds them."""
    rows = fixture_rows()
    for conversation_id, text, language in EXTRA_ROWS:
        rows.append(
            {
                "conversation_id": conversation_id,
                "model": "claude-v1",
                "conversation": [{"role": "user", "content": text}],
                "language": language,
            }
        )
    folder = tmp_path_factory.mktemp("search")
    source = write_jsonl(folder / "chats.jsonl", rows)
    root = folder / "ws"
    spec = JobSpec(
        load=LoadStep(source=str(source)),
        embed=EmbedStep(device="cpu"),
        cluster=ClusterStep(n_clusters=3, run_id="k3"),
        summarize=SummarizeStep(alias="offline"),
    )
    with open_workspace(root) as ws:
        result = run_job(ws, spec)
    assert result["index"]["queries"][0]["total"] == 34
    assert result["index"]["summaries"][0]["total"] == 3
    return root


@pytest.fixture
def ws(search_root):
    with open_workspace(search_root) as ws:
        yield ws


@pytest.fixture
def searcher(ws):
    return Searcher(ws, run_id="k3")


def topic_of(ws, query_id: int) -> str:
    return (
        ws.con.execute("SELECT conversation_id FROM queries WHERE query_id = ?", [query_id])
        .fetchall()[0][0]
        .split("-")[0]
    )


def sql_cluster(ws) -> int:
    """The cluster holding most SQL queries (the ground truth for within-clusters)."""
    return ws.con.execute(
        "SELECT c.cluster_id FROM query_clusters c JOIN queries q USING (query_id) "
        "WHERE c.run_id = 'k3' AND q.conversation_id LIKE 'sql-%' "
        "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchall()[0][0]


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
def test_a_question_about_sql_joins_finds_sql_queries_first(ws, searcher, mode):
    found = searcher.search_queries("how to join two tables in SQL", mode=mode, n=5)
    assert [topic_of(ws, hit.query_id) for hit in found.hits[:3]] == ["sql"] * 3
    assert found.hits[0].score >= found.hits[-1].score
    first = found.hits[0]
    assert first.cluster_id == sql_cluster(ws)
    assert first.model in {"gpt-4", "vicuna-13b", "claude-v1"} and first.snippet


def test_keyword_search_reads_chinese_without_spaces(ws, searcher):
    keyword = searcher.search_queries("机器学习", mode="keyword", n=3)
    assert [_conversation(ws, hit.query_id) for hit in keyword.hits] == ["ml-zh"]
    assert keyword.hits[0].language == "Chinese"


def test_keyword_search_is_case_insensitive_and_ranks_by_bm25(ws, searcher):
    found = searcher.search_queries("GROUP by", mode="keyword", n=10)
    expected = {
        row[0]
        for row in ws.con.execute(
            "SELECT query_id FROM queries WHERE query_text ILIKE '%group%'"
        ).fetchall()
    }
    assert {hit.query_id for hit in found.hits} == expected
    assert found.candidates == len(expected)
    assert all("group" in hit.snippet.lower() for hit in found.hits)
    scores = [hit.score for hit in found.hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]


def _conversation(ws, query_id: int) -> str:
    return ws.con.execute(
        "SELECT conversation_id FROM queries WHERE query_id = ?", [query_id]
    ).fetchall()[0][0]


def _truth(ws, cluster_ids=None, language=None, model=None) -> set[int]:
    rows = ws.con.execute(
        """
        SELECT q.query_id FROM queries q JOIN query_clusters c USING (query_id)
        WHERE c.run_id = 'k3' AND (? IS NULL OR list_contains(?, c.cluster_id))
            AND (? IS NULL OR q.language = ?) AND (? IS NULL OR q.model = ?)
        """,
        [cluster_ids, cluster_ids, language, language, model, model],
    ).fetchall()
    return {row[0] for row in rows}


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(language="German"),
        SearchFilters(model="gpt-4"),
        SearchFilters(cluster_ids=(0, 2)),
        SearchFilters(cluster_ids=(1,), model="vicuna-13b"),
    ],
)
def test_filters_and_facets_match_duckdb(ws, searcher, mode, filters):
    found = searcher.search_queries(
        "recipe with chicken or a SQL query", mode=mode, n=50, filters=filters
    )
    allowed = _truth(ws, list(filters.cluster_ids) or None, filters.language, filters.model)
    returned = {hit.query_id for hit in found.hits}
    assert returned <= allowed
    if mode != "keyword":  # semantic pools reach every allowed query in a tiny workspace
        assert returned == allowed
    for hit in found.hits:
        assert (filters.language or hit.language) == hit.language
        assert (filters.model or hit.model) == hit.model
    candidates = _facet_truth(ws, returned if mode != "keyword" else None, found)
    assert {f.value: f.count for f in found.facets["model"]} == candidates["model"]
    assert {f.value: f.count for f in found.facets["language"]} == candidates["language"]
    assert {f.value: f.count for f in found.facets["cluster"]} == candidates["cluster"]
    assert sum(f.count for f in found.facets["cluster"]) == found.candidates


def _facet_truth(ws, query_ids, found) -> dict[str, dict]:
    """Counts per model, language and cluster over `query_ids` (or over the hits)."""
    ids = list(query_ids) if query_ids is not None else [hit.query_id for hit in found.hits]
    truth = {}
    for name, column in (
        ("model", "q.model"),
        ("language", "q.language"),
        ("cluster", "c.cluster_id"),
    ):
        rows = ws.con.execute(
            f"SELECT {column}, count(*) FROM queries q JOIN query_clusters c USING (query_id) "
            "WHERE c.run_id = 'k3' AND list_contains(?, q.query_id) GROUP BY 1",
            [ids],
        ).fetchall()
        truth[name] = dict(rows)
    return truth


def test_cluster_facets_carry_titles(searcher):
    found = searcher.search_queries("travel itinerary", mode="semantic", n=5)
    labels = {facet.label for facet in found.facets["cluster"]}
    assert labels == {searcher.titles[facet.value] for facet in found.facets["cluster"]}
    assert all(label and not label.startswith("cluster ") for label in labels)


def test_cluster_search_ranks_summaries(ws, searcher):
    hits = searcher.search_clusters("databases and SQL queries", k=3)
    assert hits[0].cluster_id == sql_cluster(ws)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    sizes = dict(
        ws.con.execute("SELECT cluster_id, size FROM clusters WHERE run_id = 'k3'").fetchall()
    )
    assert all(hit.size == sizes[hit.cluster_id] and hit.title for hit in hits)


def test_within_clusters_restricts_results_to_the_matching_clusters(ws, searcher):
    filters = SearchFilters(within_clusters="SQL databases", top_clusters=1)
    found = searcher.search_queries(
        "how do I make it faster", mode="semantic", n=20, filters=filters
    )
    assert found.within_clusters == [sql_cluster(ws)]
    assert {hit.cluster_id for hit in found.hits} == {sql_cluster(ws)}
    assert len(found.hits) == len(_truth(ws, [sql_cluster(ws)]))


def test_similar_queries_are_neighbours_from_the_same_topic(ws, searcher):
    query_id = ws.con.execute(
        "SELECT query_id FROM queries WHERE conversation_id = 'cooking-0'"
    ).fetchall()[0][0]
    hits = searcher.similar(query_id, n=5)
    assert query_id not in {hit.query_id for hit in hits}
    assert sum(topic_of(ws, hit.query_id) == "cooking" for hit in hits) >= 4
    with pytest.raises(SearchError, match="no query with id 999"):
        searcher.similar(999)


def test_a_deleted_or_corrupt_query_index_is_rebuilt(search_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(search_root, root)
    with open_workspace(root) as ws:
        space_id = Searcher(ws).space_id
        path = query_index_path(ws, space_id)
        path.unlink()
        assert check_query_index(ws, space_id).state == "missing"
        messages = []
        searcher = Searcher(ws, progress=lambda p: messages.append(p.message))
        assert searcher.search_queries("SQL join", mode="semantic", n=3).hits
        assert check_query_index(ws, space_id).ok
        assert any("no index file; built" in (m or "") for m in messages)

        path.write_bytes(path.read_bytes()[:4096])
        assert check_query_index(ws, space_id).state == "corrupt"
        assert Searcher(ws).search_queries("SQL join", mode="semantic", n=3).hits
        assert check_query_index(ws, space_id).ok


def test_a_stale_index_gets_only_the_new_rows(search_root, tmp_path):
    """More vectors in the space than in the index: the update adds just those."""
    root = tmp_path / "copy"
    shutil.copytree(search_root, root)
    with open_workspace(root) as ws:
        space_id = Searcher(ws).space_id
        vectors = ws.vector_file(space_id)
        extra = np.asarray(vectors.array()[:2], dtype=np.float32)
        first_row = vectors.append(extra)
        ws.con.execute(
            "INSERT INTO queries SELECT query_id + 1000, conversation_id || '-copy', source, "
            "model, language, query_text, turn, extra, loaded_at FROM queries "
            "WHERE query_id IN (SELECT query_id FROM embeddings WHERE row_index < 2)"
        )
        ws.con.execute(
            "INSERT INTO embeddings SELECT space_id, query_id + 1000, row_index + ? "
            "FROM embeddings WHERE row_index < 2",
            [first_row],
        )
        ws.con.execute("UPDATE embedding_spaces SET n_vectors = n_vectors + 2")
        assert check_query_index(ws, space_id).state == "stale"
        update = update_query_index(ws, space_id)
        assert (update.added, update.total, update.rebuilt) == (2, 36, False)
        assert check_query_index(ws, space_id).ok


def test_an_index_of_another_space_is_refused_and_rebuilt(search_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(search_root, root)
    with open_workspace(root) as ws:
        space_id = Searcher(ws).space_id
        path = query_index_path(ws, space_id)
        manifest = path.with_suffix(".json")
        manifest.write_text(manifest.read_text().replace(space_id, "st-other-model"))
        check = check_query_index(ws, space_id)
        assert check.state == "mismatch" and "st-other-model" in check.detail
        assert update_query_index(ws, space_id).rebuilt
        assert check_query_index(ws, space_id).ok
        path.unlink()  # as before the first build: one plain line, no alarm
        lines = []
        update_query_index(ws, space_id, lambda p: lines.append(p.message))
        assert lines[-1].startswith(f"index {path.name}: no index file; built (")


def test_renamed_summaries_make_the_summary_index_stale(search_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(search_root, root)
    with open_workspace(root) as ws:
        searcher = Searcher(ws, run_id="k3")
        summary_run_id = searcher.summary_run_id
        assert check_summary_index(ws, summary_run_id).ok
        ws.con.execute(
            "UPDATE cluster_summaries SET title = 'Baking bread', description = 'Bread.' "
            "WHERE summary_run_id = ? AND cluster_id = ?",
            [summary_run_id, sql_cluster(ws)],
        )
        assert check_summary_index(ws, summary_run_id).state == "stale"
        hits = Searcher(ws, run_id="k3").search_clusters("baking bread", k=1)
        assert hits[0].cluster_id == sql_cluster(ws) and hits[0].title == "Baking bread"
        assert summary_index_path(ws, summary_run_id).exists()


def test_mixing_spaces_and_unknown_scopes_are_refused(ws):
    with pytest.raises(SearchError, match="no embedding space 'st-nope'"):
        Searcher(ws, space_id="st-nope")
    with pytest.raises(SearchError, match="no clustering run 'nope'"):
        Searcher(ws, run_id="nope")
    space_id = Searcher(ws).space_id
    ws.con.execute(
        "INSERT INTO embedding_spaces VALUES ('st-other', 'sentence-transformers', 'other', "
        "16, true, 0, now()::TIMESTAMP)"
    )
    try:
        with pytest.raises(SearchError, match="never mixes embedding spaces"):
            Searcher(ws, run_id="k3", space_id="st-other")
        with pytest.raises(SearchError, match="no summary run or alias 'v9'"):
            Searcher(ws, run_id="k3", summary_run_id="v9")
        assert Searcher(ws, run_id="k3", summary_run_id="offline").space_id == space_id
    finally:
        ws.con.execute("DELETE FROM embedding_spaces WHERE space_id = 'st-other'")


def test_snippets_are_one_line_without_control_characters():
    text = "intro " * 60 + "the \x1b[31mSQL\x1b[0m join\nnext line\u202e"
    shown = snippet(text, ["join"])
    assert "join" in shown and "\n" not in shown and "\x1b" not in shown
    assert "\u202e" not in shown and shown.startswith("…") and len(shown) <= 162
    assert snippet("") == ""


def test_a_new_load_is_searchable_by_keyword_and_the_index_step_rebuilds(search_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(search_root, root)
    source = write_jsonl(
        tmp_path / "more.jsonl",
        [{"conversation_id": "new-1", "conversation": [{"role": "user", "content": "Zanzibar?"}]}],
    )
    with open_workspace(root) as ws:
        result = run_job(ws, JobSpec(load=LoadStep(source=str(source))))
        assert "index" not in result  # a load leaves the keyword index to the first search
        progress = []
        searcher = Searcher(ws, run_id="k3", progress=progress.append)
        found = searcher.search_queries("zanzibar", mode="keyword")
        assert progress[0].message == "indexing words" and progress[-1].done == 1
        assert found.matches == 1
        assert [hit.snippet for hit in found.hits] == ["Zanzibar?"]
        assert found.hits[0].cluster_id is None  # loaded after the run
        assert found.facets["cluster"][0].label == "(not in this run)"

        result = run_job(ws, JobSpec.model_validate({"index": {"rebuild": True}}))
        index = result["index"]
        assert index["keywords"]["indexed"] == 35
        assert [q["rebuilt"] for q in index["queries"]] == [True]
        assert [s["rebuilt"] for s in index["summaries"]] == [True]


def test_copies_of_a_text_are_one_hit_that_counts_them(search_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(search_root, root)
    asked = ["Zanzibar ferry times?", "zanzibar  ferry times", "ZANZIBAR ferry-times!!"] * 3
    rows = [
        {"conversation_id": f"c{i}", "conversation": [{"role": "user", "content": text}]}
        for i, text in enumerate([*asked, "Zanzibar spice tour"])
    ]
    with open_workspace(root) as ws:
        run_job(ws, JobSpec(load=LoadStep(source=str(write_jsonl(tmp_path / "z.jsonl", rows)))))
        # A pool of 4 holds copies of one text only: it widens until 2 distinct texts show.
        # Run k3 predates these rows: their texts are read to tell copies.
        before = Searcher(ws, run_id="k3").search_queries("zanzibar", "keyword", n=2, pool=4)
        # A run that holds them marked their copies: search reads its marks, not the texts.
        run_job(ws, JobSpec(embed=EmbedStep(device="cpu"), cluster=ClusterStep(n_clusters=3)))
        searcher = Searcher(ws)
        searcher._text_hashes = lambda query_ids: pytest.fail("texts read for a run's copies")
        after = searcher.search_queries("zanzibar", "keyword", n=2, pool=4)
        # The count is the run's, not the candidates' (4 here, all copies of one text).
        first = searcher.search_queries("zanzibar ferry", "keyword", n=1, pool=4)
        assert first.candidates == 4 and first.hits[0].copies == 8
        # A copy's neighbours are other texts, each once: not its own 8 copies.
        copy = after.hits[0].query_id
        neighbours = searcher.similar(copy, n=5)
    texts = {" ".join(re.findall(r"[a-z]+", hit.snippet.lower())) for hit in neighbours}
    assert len(neighbours) == len(texts) == 5 and "zanzibar ferry times" not in texts
    for found in (before, after):
        assert found.matches == 10
        assert [hit.copies for hit in found.hits] == [8, 0]
        assert found.hits[1].snippet == "Zanzibar spice tour"
        assert found.hits[0].snippet in asked


def test_hybrid_search_before_anything_is_embedded_says_it_used_the_words(tmp_path):
    rows = [{"conversation_id": "a", "conversation": [{"role": "user", "content": "Zanzibar?"}]}]
    with open_workspace(tmp_path / "ws") as ws:
        run_job(ws, JobSpec(load=LoadStep(source=str(write_jsonl(tmp_path / "z.jsonl", rows)))))
        found = Searcher(ws).search_queries("zanzibar", "hybrid")
        assert found.mode == "keyword" and found.space_id is None and found.run_id is None
        assert [hit.snippet for hit in found.hits] == ["Zanzibar?"]


def test_an_index_holding_other_vectors_is_a_mismatch(search_root, tmp_path):
    from lmsys_tui.engine.retrieval.index import _new_index, _save

    root = tmp_path / "copy"
    shutil.copytree(search_root, root)
    with open_workspace(root) as ws:
        space_id = Searcher(ws).space_id
        dim, rows = ws.vector_file(space_id).dim, ws.vector_file(space_id).rows
        other = _new_index(dim)
        noise = np.random.default_rng(0).normal(size=(rows, dim)).astype(np.float16)
        other.add(np.arange(rows, dtype=np.uint64), noise)
        _save(
            other, query_index_path(ws, space_id), {"space_id": space_id, "dim": dim, "rows": rows}
        )
        check = check_query_index(ws, space_id)
        assert check.state == "mismatch" and "differ" in check.detail


def _garble(path, offset: int, size: int) -> None:
    """Overwrite bytes in place: the file keeps its size (a bad sector, a stray write)."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())


def test_a_garbled_index_body_is_caught_by_its_checksum_and_rebuilt(search_root, tmp_path):
    """usearch trusts its file: 3,000 random bytes mid-file crashed it, 5,000 at offset
    100 of a summary index returned wrong clusters. The checksum catches both first."""
    from lmsys_tui.engine.retrieval.index import summary_index_path
    from lmsys_tui.engine.verify import verify_run

    root = tmp_path / "copy"
    shutil.copytree(search_root, root)
    with open_workspace(root) as ws:
        searcher = Searcher(ws, run_id="k3")
        space_id, summary_run_id = searcher.space_id, searcher.summary_run_id
        expected = [hit.cluster_id for hit in searcher.search_clusters("SQL joins", k=3)]
        query_path = query_index_path(ws, space_id)
        _garble(query_path, query_path.stat().st_size // 2, 3000)
        summary_path = summary_index_path(ws, summary_run_id)
        _garble(summary_path, 100, min(5000, summary_path.stat().st_size - 100))
        report = verify_run(ws, "k3")
        failed = {check.name: check.detail for check in report.checks if not check.ok}
        assert "checksum" in failed["query index"]
        assert "checksum" in failed[f"summary index {summary_run_id}"]

        messages = []
        fresh = Searcher(ws, run_id="k3", progress=lambda p: messages.append(p.message))
        hits = fresh.search_queries("SQL join", mode="semantic", n=3).hits
        assert all(topic_of(ws, hit.query_id) == "sql" for hit in hits)
        assert [hit.cluster_id for hit in fresh.search_clusters("SQL joins", k=3)] == expected
        rebuilt = [m for m in messages if m and "checksum" in m]
        assert len(rebuilt) == 2 and all("rebuilt in" in m for m in rebuilt)
        assert verify_run(ws, "k3").ok
