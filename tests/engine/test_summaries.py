"""Offline summaries (c-TF-IDF keywords) and offline hierarchies."""

from __future__ import annotations

import numpy as np
import pytest

from lmsys_tui.engine.browse import hierarchy_nodes, list_clusters
from lmsys_tui.engine.clustering.runs import cluster_space
from lmsys_tui.engine.errors import SummaryError
from lmsys_tui.engine.hierarchy.build import build_hierarchy
from lmsys_tui.engine.insight.pictures import language_mix
from lmsys_tui.engine.naming.phrases import key_phrases
from lmsys_tui.engine.naming.summarize import latest_summary_run_id, summarize_run
from lmsys_tui.engine.retrieval.keywords import tokenize
from lmsys_tui.engine.specs import ClusterStep, HierarchyStep, SummarizeStep
from lmsys_tui.engine.workspace import open_workspace

MULTILINGUAL = {
    "sql": [
        "How do I join two tables in SQL?",
        "SQL query with GROUP BY and HAVING",
        "Why is my SQL query slow without an index?",
        "Write a SQL query for top salaries",
    ],
    "chinese": [
        "如何学习机器学习？",
        "推荐一本机器学习入门书籍",
        "机器学习和深度学习有什么区别",
        "机器学习需要哪些数学基础",
    ],
    "russian": [
        "Как приготовить борщ дома?",
        "Рецепт борща со свёклой",
        "Сколько варить борщ?",
        "Какой борщ лучше: красный или зелёный?",
    ],
}


def test_tokenize_splits_cjk_into_bigrams_and_keeps_other_scripts():
    assert tokenize("用Python学习 SQL и борщ") == ["python", "学习", "sql", "борщ"]


def test_key_phrases_name_each_topic_in_its_own_script():
    docs = [doc for docs in MULTILINGUAL.values() for doc in docs]
    classes = np.repeat(np.arange(len(MULTILINGUAL)), 4)
    phrases = key_phrases(docs, classes, {}, None, originals=True)
    words = {name: phrases[i] for i, name in enumerate(MULTILINGUAL)}
    assert words["sql"][0] in ("SQL", "SQL query")
    assert "机器学习" in words["chinese"]
    assert words["russian"][0] == "борщ"


def tree_nodes(ws, hierarchy_run_id):
    return ws.con.execute(
        "SELECT node_id, level, parent_id, cluster_id, title, size FROM hierarchy_nodes "
        "WHERE hierarchy_run_id = ? ORDER BY node_id",
        [hierarchy_run_id],
    ).fetchall()


def forget_hierarchies(ws):
    ws.con.execute("DELETE FROM hierarchy_nodes")
    ws.con.execute("DELETE FROM hierarchy_runs")


@pytest.fixture(scope="module")
def clustered(embedded_workspace):
    root, space = embedded_workspace
    with open_workspace(root) as ws:
        run = cluster_space(ws, ClusterStep(n_clusters=6, seed=3, run_id="six"), space)
    return root, run.run_id


def test_offline_summaries_title_every_cluster_by_its_topic(embedded_workspace):
    root, space = embedded_workspace
    with open_workspace(root) as ws:
        run_id = cluster_space(ws, ClusterStep(n_clusters=3, seed=1, run_id="three"), space).run_id
        result = summarize_run(ws, SummarizeStep(alias="v1", max_queries=4), run_id)
        rows = ws.con.execute(
            """
            SELECT s.cluster_id, s.title, s.description, s.keywords, s.representative_ids,
                   (SELECT mode(q.extra->>'topic') FROM query_clusters c JOIN queries q
                    USING (query_id) WHERE c.run_id = ? AND c.cluster_id = s.cluster_id)
            FROM cluster_summaries s WHERE summary_run_id = ? ORDER BY cluster_id
            """,
            [run_id, result.summary_run_id],
        ).fetchall()
        texts = dict(ws.con.execute("SELECT query_id, query_text FROM queries").fetchall())
        members = dict(
            ws.con.execute(
                "SELECT query_id, cluster_id FROM query_clusters WHERE run_id = ?", [run_id]
            ).fetchall()
        )
        assert latest_summary_run_id(ws, run_id, "v1") == result.summary_run_id
    assert result.summarized == 3 and len(rows) == 3
    assert result.summary_run_id.startswith("summary-offline-")
    assert sorted(topic for *_, topic in rows) == ["cooking", "sql", "travel"]
    for cluster_id, title, description, keywords, representative_ids, topic in rows:
        assert 0 < len(title) <= 60 and description
        assert 1 <= len(representative_ids) <= 4
        assert len(set(representative_ids)) == len(representative_ids)
        assert all(members[q] == cluster_id for q in representative_ids)
        size = sum(1 for c in members.values() if c == cluster_id)
        # The description is about the whole cluster, then quotes the most central query.
        assert description.startswith(f"{size} prompts (") and "English" in description
        assert f'Typical: "{texts[representative_ids[0]][:30]}' in description
        expected = {"sql": "sql", "cooking": "recipe", "travel": "itinerary"}[topic]
        assert expected in [k.lower() for k in keywords[:5]] and expected in title.lower()


def test_a_summary_pass_resumes_and_is_reused(clustered):
    root, run_id = clustered
    step = SummarizeStep(alias="resume-test")
    with open_workspace(root) as ws:
        first = summarize_run(ws, step, run_id)
        ws.con.execute(
            "DELETE FROM cluster_summaries WHERE summary_run_id = ? AND cluster_id < 2",
            [first.summary_run_id],
        )
        ws.con.execute(
            "UPDATE summary_runs SET status = 'running' WHERE summary_run_id = ?",
            [first.summary_run_id],
        )
        resumed = summarize_run(ws, step, run_id)
        again = summarize_run(ws, step, run_id)
    assert resumed.summary_run_id == first.summary_run_id
    assert (resumed.summarized, resumed.already_done) == (2, 4)
    assert again.reused and again.summarized == 0


def test_a_given_summary_run_id_is_used_and_guarded(clustered):
    root, run_id = clustered
    with open_workspace(root) as ws:
        named = summarize_run(ws, SummarizeStep(summary_run_id="my-names"), run_id)
        again = summarize_run(ws, SummarizeStep(summary_run_id="my-names"), run_id)
        with pytest.raises(SummaryError, match="belongs to run"):
            summarize_run(ws, SummarizeStep(summary_run_id="my-names", model="openai/x"), run_id)
    assert named.summary_run_id == "my-names" and again.reused


def test_offline_hierarchy_invariants_and_determinism(clustered):
    root, run_id = clustered
    step = HierarchyStep(levels=3, merge_ratio=0.5, top_size=2)
    with open_workspace(root) as ws:
        summary = summarize_run(ws, SummarizeStep(alias="h"), run_id)
        first = build_hierarchy(ws, step, run_id, summary.summary_run_id)
        again = build_hierarchy(ws, step, run_id, summary.summary_run_id)
        tree = tree_nodes(ws, first.hierarchy_run_id)
        forget_hierarchies(ws)  # force a fresh build for determinism
        rebuilt = build_hierarchy(ws, step, run_id, summary.summary_run_id)
        assert tree_nodes(ws, rebuilt.hierarchy_run_id) == tree
    assert again.reused and again.hierarchy_run_id == first.hierarchy_run_id
    assert first.nodes_per_level == [6, 3, 2]  # no lone root
    by_id = {node_id: (level, parent, size) for node_id, level, parent, _, _, size in tree}
    top = max(level for level, _, _ in by_id.values())
    for node_id, (level, parent, size) in by_id.items():
        if level < top:
            assert parent is not None and by_id[parent][0] == level + 1  # one parent, above
        else:
            assert parent is None
        children = [s for (_, p, s) in by_id.values() if p == node_id]
        if level > 0:
            assert sum(children) == size  # sizes add up
    assert sum(size for level, _, size in by_id.values() if level == top) == 30
    assert all(title for *_, title, _ in tree)


def test_noise_is_never_reported_as_the_largest_category(embedded_workspace):
    root, space = embedded_workspace
    step = HierarchyStep(levels=2, merge_ratio=0.5, top_size=2)
    with open_workspace(root) as ws:  # a run of its own: the shared ones stay as they are
        run_id = cluster_space(ws, ClusterStep(n_clusters=6, seed=3, run_id="noisy"), space).run_id
        # Most prompts left unclustered, as HDBSCAN can leave them: cluster 0 becomes noise.
        for table, extra in (("clusters", ", size = 100"), ("query_clusters", "")):
            ws.con.execute(
                f"UPDATE {table} SET cluster_id = -1{extra} WHERE run_id = ? AND cluster_id = 0",
                [run_id],
            )
        summary = summarize_run(ws, SummarizeStep(alias="noisy"), run_id).summary_run_id
        built = build_hierarchy(ws, step, run_id, summary)
        again = build_hierarchy(ws, step, run_id, summary)
        clusters = list_clusters(ws.con, run_id, summary)
        nodes = hierarchy_nodes(ws.con, built.hierarchy_run_id)
        mix = language_mix(ws.con, run_id, built.hierarchy_run_id)
        flat = language_mix(ws.con, run_id, None)  # a run without a tree: its clusters
        ws.con.execute(
            "UPDATE cluster_summaries SET title = 'Same' WHERE summary_run_id = ? "
            "AND cluster_id IN (1, 2)",
            [summary],
        )
        twins = language_mix(ws.con, run_id, None)  # two clusters, one title: two rows
    assert again.reused and built.warnings == again.warnings == []
    assert built.largest_share == again.largest_share and built.largest_share[-1] < 0.35
    # The largest, yet listed after the clusters, at every level of the tree too.
    assert clusters[-1].cluster_id == -1 and clusters[-1].size > clusters[0].size
    for level in {node.level for node in nodes}:
        row = [node for node in nodes if node.level == level]
        assert row[-1].is_special and not any(node.is_special for node in row[:-1])
    assert mix.categories[-1].startswith("Noise: ")  # the pictures' and report's table too
    assert mix.row == "category" and flat.row == "cluster"  # what the table's rows are named
    assert set(flat.categories) <= {c.title for c in clusters}
    assert {"Same (1)", "Same (2)"} <= set(twins.categories)
    assert len(twins.categories) == len(flat.categories)


def test_llm_hierarchy_keeps_the_invariants_and_is_deterministic(clustered, monkeypatch):
    from tests.llm_server import ScriptedLLM

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    root, run_id = clustered
    with ScriptedLLM() as llm, open_workspace(root) as ws:
        summary = summarize_run(ws, SummarizeStep(alias="for-llm-tree"), run_id)
        step = HierarchyStep(
            model="openai/scripted",
            api_base=llm.api_base,
            levels=2,
            merge_ratio=0.5,
            top_size=2,
            seed=7,
        )
        first = build_hierarchy(ws, step, run_id, summary.summary_run_id)
        tree = [row[:3] + row[4:] for row in tree_nodes(ws, first.hierarchy_run_id)]
        forget_hierarchies(ws)
        second = build_hierarchy(ws, step, run_id, summary.summary_run_id)
        again = [row[:3] + row[4:] for row in tree_nodes(ws, second.hierarchy_run_id)]
    assert tree == again  # deterministic under a fixed seed and the scripted server
    assert llm.calls["propose"] and llm.calls["assign"] and llm.calls["rename"]
    # Its requests and tokens are recorded like a summary pass's (the second build answered
    # from the reply cache).
    assert first.usage["requests"] == sum(llm.calls.values())
    assert first.usage["prompt_tokens"] > 0 and second.usage["cache_hits"] > 0
    counts = first.nodes_per_level
    assert counts[0] == 6 and counts[1] <= 3 + 1  # +1: "Other"
    # The scripted LLM puts every "Renamed ..." node of level 1 into one category at level 2:
    # a lone root says nothing and is not stored.
    assert counts == [6, counts[1]] and counts[1] >= 2
    by_id = {n: (level, parent, size) for n, level, parent, _, size in tree}
    top = max(level for level, _, _ in by_id.values())
    for node_id, (level, parent, size) in by_id.items():
        assert (parent is None) == (level == top)
        if parent:
            assert by_id[parent][0] == level + 1
        if level > 0:
            assert sum(s for _, p, s in by_id.values() if p == node_id) == size
    assert all(title.startswith("Renamed ") for _, level, _, title, _ in tree if level > 0)


def test_an_interrupted_hierarchy_keeps_its_levels_and_resumes(clustered, monkeypatch):
    from lmsys_tui.engine.hierarchy import build as hierarchy

    root, run_id = clustered
    step = HierarchyStep(levels=3, merge_ratio=0.5, top_size=2)
    original = hierarchy._merge

    def stop_at_level_two(below, level, *args):
        if level == 2:
            raise KeyboardInterrupt
        return original(below, level, *args)

    with open_workspace(root) as ws:
        summary = summarize_run(ws, SummarizeStep(alias="resume-tree"), run_id)
        forget_hierarchies(ws)
        complete = build_hierarchy(ws, step, run_id, summary.summary_run_id)
        expected = tree_nodes(ws, complete.hierarchy_run_id)
        forget_hierarchies(ws)
        monkeypatch.setattr(hierarchy, "_merge", stop_at_level_two)
        with pytest.raises(KeyboardInterrupt):
            build_hierarchy(ws, step, run_id, summary.summary_run_id)
        saved = ws.con.execute(
            "SELECT h.status, max(n.level) FROM hierarchy_runs h JOIN hierarchy_nodes n "
            "USING (hierarchy_run_id) GROUP BY ALL"
        ).fetchall()
        monkeypatch.setattr(hierarchy, "_merge", original)
        resumed = build_hierarchy(ws, step, run_id, summary.summary_run_id)
        assert tree_nodes(ws, resumed.hierarchy_run_id) == expected
    assert saved == [("running", 1)]  # level 1 was kept
    assert not resumed.reused and resumed.nodes_per_level == complete.nodes_per_level
