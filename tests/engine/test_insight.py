"""Comparing runs, facet lift, assigning new queries: checked against plain computations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from lmsys_tui.engine.browse import NotFound
from lmsys_tui.engine.clustering.runs import cluster_space
from lmsys_tui.engine.embedding.embed import embed_queries
from lmsys_tui.engine.insight.compare import compare_runs
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.specs import ClusterStep, EmbedStep, LoadStep
from tests.conftest import WordHashEmbedder


@pytest.fixture
def runs(workspace, lmsys_file):
    """k3 and k2 (k-means) over the 30 fixture prompts."""
    load(workspace, LoadStep(source=str(lmsys_file)))
    space_id = embed_queries(workspace, EmbedStep(), embedder=WordHashEmbedder()).space_id
    cluster_space(workspace, ClusterStep(n_clusters=3, run_id="k3"), space_id)
    cluster_space(workspace, ClusterStep(n_clusters=2, run_id="k2"), space_id)
    return workspace


def labels(ws, run_id):
    return dict(
        ws.con.execute(
            "SELECT query_id, cluster_id FROM query_clusters WHERE run_id = ?", [run_id]
        ).fetchall()
    )


def test_comparison_agrees_with_scikit_learn_and_finds_the_split(runs):
    a, b = labels(runs, "k2"), labels(runs, "k3")
    shared = sorted(set(a) & set(b))
    result = compare_runs(runs.con, "k2", "k3")
    assert result.shared_queries == 30 and result.only_in_a == 0
    assert result.ari == pytest.approx(
        adjusted_rand_score([a[q] for q in shared], [b[q] for q in shared]), abs=1e-4
    )
    assert result.nmi == pytest.approx(
        normalized_mutual_info_score([a[q] for q in shared], [b[q] for q in shared]), abs=1e-4
    )
    assert len(result.matches) == 2  # one to one: 2 of k3's 3 clusters have a partner
    matched_b = {m.b.cluster_id for m in result.matches}
    assert len(matched_b) == 2
    for match in result.matches:
        together = sum(
            1 for q in shared if a[q] == match.a.cluster_id and b[q] == match.b.cluster_id
        )
        assert match.overlap == together
    jaccards = [m.jaccard for m in result.matches]
    assert jaccards == sorted(jaccards, reverse=True)  # strongest first
    # k3 has one more cluster: some k2 cluster is split across k3's, or k3's extra one
    # takes from both k2 clusters.
    assert result.splits or result.merges


def test_noise_is_its_own_row_and_a_run_is_not_compared_with_itself(runs):
    runs.con.execute(
        "UPDATE query_clusters SET cluster_id = -1 WHERE run_id = 'k3' AND query_id < 5"
    )
    result = compare_runs(runs.con, "k3", "k2")
    sides = [m.a.cluster_id for m in result.matches] + [
        s.cluster_id for s in result.no_counterpart_a
    ]
    titles = {m.a.cluster_id: m.a.title for m in result.matches}
    titles |= {p.cluster_id: p.title for g in result.merges for p in g.parts}
    # Noise shows as a row of its own: matched, left over, split, or a part of a merge.
    assert (
        -1 in sides
        or any(g.cluster.cluster_id == -1 for g in result.splits)
        or any(p.cluster_id == -1 for g in result.merges for p in g.parts)
    )
    assert titles.get(-1, "noise").startswith("noise")
    with pytest.raises(NotFound, match="with itself"):
        compare_runs(runs.con, "k3", "k3")
    with pytest.raises(NotFound, match="no clustering run 'nope'"):
        compare_runs(runs.con, "k3", "nope")
    assert np.isfinite(result.ari) and 0 <= result.nmi <= 1


def test_noise_is_matched_only_with_noise(runs):
    runs.con.execute(
        "UPDATE query_clusters SET cluster_id = -1 WHERE run_id = 'k3' AND query_id < 20"
    )
    result = compare_runs(runs.con, "k3", "k2")
    assert result.matches and all(m.a.cluster_id != -1 for m in result.matches)
    assert -1 in [side.cluster_id for side in result.no_counterpart_a]
    assert any(g.cluster.cluster_id == -1 for g in result.splits)  # where noise went


def test_wilson_interval_matches_the_textbook_values():
    from lmsys_tui.engine.insight.facets import wilson

    low, high = wilson(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert wilson(0, 20)[0] == 0.0 and wilson(20, 20)[1] == 1.0


def test_facet_lift_finds_the_cluster_a_model_dominates(runs):
    from lmsys_tui.engine.insight.facets import facet_lift

    con = runs.con
    members = labels(runs, "k3")
    topic = dict(con.execute("SELECT query_id, extra->>'topic' FROM queries").fetchall())
    sql_cluster = max(
        set(members.values()),
        key=lambda c: sum(topic[q] == "sql" for q, k in members.items() if k == c),
    )
    sql_queries = [q for q, k in members.items() if k == sql_cluster]
    con.execute("UPDATE queries SET model = 'vicuna-13b'")
    con.execute(
        "UPDATE queries SET model = 'gpt-4' WHERE query_id IN (SELECT unnest(?::BIGINT[]))",
        [sql_queries],
    )
    top = facet_lift(con, "k3", "model", value="gpt-4")[0]
    size = len(sql_queries)
    assert (top.cluster_id, top.count, top.cluster_size) == (sql_cluster, size, size)
    assert top.lift == pytest.approx(30 / size, rel=1e-3) and top.lift_low > 1
    under = facet_lift(con, "k3", "model", cluster_id=sql_cluster)
    assert [lift.value for lift in under] == ["gpt-4"]  # no vicuna in it at all
    by_topic = facet_lift(con, "k3", "topic")  # a field the data carried
    assert {lift.value for lift in by_topic} == {"sql", "cooking", "travel"}
    with pytest.raises(NotFound, match="no facet 'colour': use one of .*topic"):
        facet_lift(con, "k3", "colour")
    # A source loaded after a thousand rows of another still has its fields named.
    con.execute(
        "INSERT INTO queries SELECT 1000 + i, 'b' || i, 'bulk', NULL, NULL, 'x', 1, "
        "'{\"x\": 1}', now()::TIMESTAMP FROM range(1000) t(i)"
    )
    con.execute(
        "INSERT INTO queries VALUES (5000, 'l', 'late', NULL, NULL, 'y', 1, "
        '\'{"mood": "calm"}\', now()::TIMESTAMP)'
    )
    with pytest.raises(NotFound, match="no facet 'colour': use one of .*mood.*topic"):
        facet_lift(con, "k3", "colour")
    with pytest.raises(NotFound, match="has model = 'gpt-5'"):
        facet_lift(con, "k3", "model", value="gpt-5")


def test_a_rare_value_on_a_few_queries_does_not_stand_out():
    from lmsys_tui.engine.insight.facets import Lift, wilson
    from lmsys_tui.wording import percent

    def lift(count: int, size: int, overall: float) -> Lift:
        low, high = wilson(count, size)
        share = count / size
        return Lift(0, "c", "Indonesian", count, size, share, overall, share / overall,
                    low / overall, high / overall)  # fmt: skip

    # 1 prompt of 186 in a language the run holds twice in 9,434: "25x", interval above 1.
    single = lift(1, 186, 2 / 9434)
    assert single.lift_low > 1 and single.lift > 20 and not single.stands_out
    assert lift(6, 186, 12 / 9434).stands_out  # the same share on six prompts does
    assert not lift(6, 186, 6 / 100).stands_out  # and a common value at its usual share not
    # A rare value's share overall is not shown as "0%" (a 56x lift over nothing).
    assert [percent(p) for p in (30 / 9434, 2 / 9434, 0.18, 0.0)] == ["0.3%", "<0.1%", "18%", "0%"]


def test_new_queries_join_their_nearest_cluster_and_the_far_ones_are_novel(
    workspace, lmsys_file, tmp_path
):
    from lmsys_tui.engine.browse import list_clusters
    from lmsys_tui.engine.clustering.assign import NEW_CLUSTER, assign_new_queries
    from lmsys_tui.engine.naming.summarize import summarize_run
    from lmsys_tui.engine.specs import AssignStep, SummarizeStep
    from tests.conftest import fixture_rows, write_jsonl

    embedder = WordHashEmbedder()
    load(workspace, LoadStep(source=str(lmsys_file)))
    space_id = embed_queries(workspace, EmbedStep(), embedder=embedder).space_id
    cluster_space(workspace, ClusterStep(n_clusters=3, run_id="k3"), space_id)
    named = summarize_run(workspace, SummarizeStep(alias="offline"), "k3").summary_run_id
    before = dict(
        workspace.con.execute(
            "SELECT cluster_id, size FROM clusters WHERE run_id = 'k3'"
        ).fetchall()
    )
    unique_before = {c.cluster_id: c.unique for c in list_clusters(workspace.con, "k3")}
    later = [
        {**row, "conversation_id": f"later-{i}"}
        for i, row in enumerate(fixture_rows()[:3])  # copies of three SQL prompts
    ]
    later.append(
        {
            "conversation_id": "later-odd",
            "conversation": [{"role": "user", "content": "zebra xylophone quokka yodel"}],
        }
    )
    load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "later.jsonl", later))))
    embed_queries(workspace, EmbedStep(), embedder=embedder)
    result = assign_new_queries(workspace, AssignStep(), "k3")
    assert (result.assigned, result.novel, result.not_embedded) == (3, 1, 0)
    members = labels(workspace, "k3")
    ids = dict(workspace.con.execute("SELECT conversation_id, query_id FROM queries").fetchall())
    for i in range(3):  # a copy lands where its original is
        assert members[ids[f"later-{i}"]] == members[ids[f"sql-{i}"]]
    assert members[ids["later-odd"]] == NEW_CLUSTER
    sizes = {c.cluster_id: c for c in list_clusters(workspace.con, "k3", named)}
    assert sizes[NEW_CLUSTER].size == 1 and sizes[NEW_CLUSTER].title.startswith("new / unassigned")
    for cluster_id, size in before.items():
        added = sum(members[ids[f"sql-{i}"]] == cluster_id for i in range(3))
        assert sizes[cluster_id].size == size + added
        assert sizes[cluster_id].unique == unique_before[cluster_id]  # copies, not new texts
        # The counts its description starts with follow: its size, and a share of the 34.
        shown = sizes[cluster_id]
        unique = f", {shown.unique} unique" if shown.unique < shown.size else ""
        assert shown.description.startswith(
            f"{shown.size} prompts ({shown.size / 34:.1%} of the run){unique};"
        )
    canonical = dict(
        workspace.con.execute(
            "SELECT query_id, canonical_id FROM duplicates WHERE run_id = 'k3'"
        ).fetchall()
    )
    for i in range(3):  # marked as copies of the texts the run held
        original = ids[f"sql-{i}"]
        assert canonical[ids[f"later-{i}"]] == canonical.get(original, original)
    assert result.copies["exact"] >= 3
    (n_queries,) = workspace.con.execute(
        "SELECT n_queries FROM clustering_runs WHERE run_id = 'k3'"
    ).fetchall()[0]
    assert n_queries == 34
    again = assign_new_queries(workspace, AssignStep(), "k3")
    assert (again.assigned, again.novel) == (0, 0)  # nothing new the second time
    (action,) = workspace.con.execute("SELECT action FROM edits").fetchall()[0]
    assert action == "assign"


def test_a_run_over_a_subset_clusters_only_that_subset(runs):
    from lmsys_tui.engine.errors import ClusterError

    space_id = runs.con.execute("SELECT space_id FROM embedding_spaces").fetchall()[0][0]
    k3 = labels(runs, "k3")
    some = sorted(set(k3.values()))[:2]
    within = cluster_space(
        runs,
        ClusterStep(n_clusters=2, run_id="zoom", within={"run_id": "k3", "clusters": some}),
        space_id,
    )
    expected = {q for q, c in k3.items() if c in some}
    assert set(labels(runs, "zoom")) == expected and within.n_queries == len(expected)
    (description,) = runs.con.execute(
        "SELECT description FROM clustering_runs WHERE run_id = 'zoom'"
    ).fetchall()[0]
    assert description == f"clusters {some[0]}, {some[1]} of k3"

    runs.con.execute("UPDATE queries SET language = 'Russian' WHERE query_id % 3 = 0")
    russian = cluster_space(
        runs, ClusterStep(n_clusters=2, where={"language": "Russian"}), space_id
    )
    assert russian.n_queries == 10
    again = cluster_space(runs, ClusterStep(n_clusters=2, where={"language": "Russian"}), space_id)
    assert again.reused and again.run_id == russian.run_id  # same subset, same parameters
    whole = cluster_space(runs, ClusterStep(n_clusters=2), space_id)
    assert whole.run_id == "k2" and whole.reused  # the subset run is not taken for the whole

    with pytest.raises(ClusterError, match=r"the subset \(language = Klingon\) selects no"):
        cluster_space(runs, ClusterStep(n_clusters=2, where={"language": "Klingon"}), space_id)
    with pytest.raises(ClusterError, match="cluster.where: no facet 'colour'"):
        cluster_space(runs, ClusterStep(n_clusters=2, where={"colour": "red"}), space_id)
    with pytest.raises(ClusterError, match="run k3 has no cluster 99"):
        cluster_space(
            runs, ClusterStep(n_clusters=2, within={"run_id": "k3", "clusters": [99]}), space_id
        )
    with pytest.raises(ClusterError, match=r"n_clusters = 20 but the subset .* only 10 "):
        cluster_space(runs, ClusterStep(n_clusters=20, where={"language": "Russian"}), space_id)


def test_a_subset_run_takes_new_queries_of_its_subset_only(runs, tmp_path):
    from lmsys_tui.engine.clustering.assign import assign_new_queries
    from lmsys_tui.engine.specs import AssignStep
    from tests.conftest import write_jsonl

    space_id = runs.con.execute("SELECT space_id FROM embedding_spaces").fetchall()[0][0]
    runs.con.execute("UPDATE queries SET language = 'Russian' WHERE query_id % 3 = 0")
    russian = cluster_space(
        runs, ClusterStep(n_clusters=2, where={"language": "Russian"}), space_id
    )
    later = [
        {
            "conversation_id": f"later-{language}",
            "language": language,
            "conversation": [{"role": "user", "content": "How do I join two tables in SQL?"}],
        }
        for language in ("Russian", "English")
    ]
    load(runs, LoadStep(source=str(write_jsonl(tmp_path / "later.jsonl", later))))
    embed_queries(runs, EmbedStep(), embedder=WordHashEmbedder())
    result = assign_new_queries(runs, AssignStep(), russian.run_id)
    assert result.assigned + result.novel == 1  # the Russian one, not the English one
