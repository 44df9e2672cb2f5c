"""Key phrases, taxonomy names and the shape of offline hierarchies."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from lmsys_tui.engine.clustering.runs import cluster_space
from lmsys_tui.engine.curation.edits import split_cluster
from lmsys_tui.engine.embedding.embed import embed_queries
from lmsys_tui.engine.errors import SummaryError
from lmsys_tui.engine.hierarchy.build import (
    Node,
    _balance_warnings,
    _balanced,
    _merge,
    level_plan,
)
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.naming.offline import (
    ClusterSample,
    cluster_samples,
    describe,
    prompt_title,
)
from lmsys_tui.engine.naming.phrases import (
    candidate_phrases,
    key_phrases,
    phrase_title,
    stemmed_phrases,
    topic_title,
)
from lmsys_tui.engine.naming.summarize import summarize_run
from lmsys_tui.engine.naming.taxonomy import load_taxonomy
from lmsys_tui.engine.retrieval.keywords import stop_words
from lmsys_tui.engine.specs import ClusterStep, EmbedStep, LoadStep, SummarizeStep
from lmsys_tui.engine.workspace import open_workspace
from tests.conftest import HashEmbedder, fixture_rows, write_jsonl

MESSY = (
    "Please check https://www.example.org/docs/page.html and www.foo.com: the SQL query "
    "in th e report is slow!! Email me at bob@corp.io about the 2nd join of the orders table"
)


def test_candidate_phrases_hold_no_url_parts_fragments_or_stop_word_edges():
    phrases = candidate_phrases(MESSY)
    assert "sql query" in phrases and "orders table" in phrases
    words = {word for phrase in phrases for word in phrase.split()}
    assert not words & {"https", "www", "example", "org", "com", "html", "bob", "corp", "io"}
    common = stop_words()
    for phrase in phrases:
        words = phrase.split()
        first, last = words[0], words[-1]
        assert len(first) >= 3 and len(last) >= 3  # no fragments such as "th" or "nd"
        assert first not in common and last not in common
    # Words every prompt uses ("think", "say") never start or end a name.
    opinion = candidate_phrases("What do you think gay people say about Nazis?")
    assert "gay people" in opinion and not any(p.startswith("think") for p in opinion)
    assert not any(p.endswith("say") for p in opinion)


def test_phrases_never_cross_punctuation_and_chinese_is_segmented_into_words():
    assert "slow email" not in candidate_phrases("the query is slow. Email me")
    assert "theory of mind" in candidate_phrases("Explain the theory of mind")
    assert not {"room and kills", "enters the room"} & candidate_phrases(
        "He enters the room and kills"
    )
    chinese = candidate_phrases("请解释机器学习的基本原理")
    assert "机器学习" in chinese or {"机器", "学习"} <= chinese
    assert all(len(p) >= 2 for p in chinese)
    assert not candidate_phrases("これはテストです")  # kana: no phrase rather than a broken one
    # Numerals, directions and pronouns (jieba's tags) end a Chinese phrase.
    assert candidate_phrases("两个数之间的最大公约数是多少") == {"最大公约数"}


def test_requests_in_other_languages_never_name_a_cluster():
    russian = candidate_phrases("Напиши историю про кота", stop_words("Russian"))
    assert russian == {"историю", "кота"}  # "write", and "про" (a Russian stop word) go
    assert "poema" in candidate_phrases("Escribe un poema", stop_words("Spanish"))
    assert "escribe" not in candidate_phrases("Escribe un poema", stop_words("Spanish"))
    story = candidate_phrases("主角没有名字，写一部小说", stop_words("Chinese"))
    assert {"主角", "小说"} <= story and not {"没有", "写"} & story  # "has no", "write"
    # Forms of stop words the lists miss ("какой" is listed, "какое" was a title word).
    which = candidate_phrases("Какое натуральное число в виде суммы", stop_words("Russian"))
    assert {"натуральное число", "суммы"} <= which and not {"какое", "виде"} & which


def test_forms_of_one_word_count_as_one_phrase_spelled_as_most_texts_write_it():
    docs = [
        "Write unit tests for my parser",
        "More tests for the lexer",
        "Testing a parser in Rust",
        "Why do my tests fail?",
        "Bake banana bread today",
        "Banana bread with walnuts",
        "A banana loaf recipe",
        "Walnut bread, no banana",
    ]
    classes = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    found = key_phrases(docs, classes, {}, None)
    assert found[0][0] == "tests"  # "tests" and "testing" in four texts: the best phrase
    assert "testing" not in found[0]  # named once, in its most common form
    assert "parser" in found[0]
    # Russian cases of one word meet too; English words inside are stemmed as English.
    russian = [
        "Напиши историю про кота",
        "История о собаке",
        "Истории для детей про tests",
        "Придумай историю на ночь, testing",
    ]
    found = key_phrases(
        russian + docs[4:], classes, {}, None, languages=["Russian"] * 4 + ["English"] * 4
    )
    # Each form is in one text only: counted apart, neither would reach the two texts a
    # phrase needs in a class of four.
    assert found[0][0] == "историю"
    assert found[0][1] in {"tests", "testing"} and not {"tests", "testing"} <= set(found[0])
    # So are those in a language Snowball has no stemmer for; its own words stay whole.
    assert set(stemmed_phrases("单元测试 unit tests", language="Chinese")) == {
        "单元测试",
        "unit test",
        "unit",
        "test",
    }


def test_key_phrases_keep_the_texts_spelling_and_titles_stay_short():
    docs = ["How do I write a SQL query with GROUP BY?"] * 3 + ["Bake banana bread today"] * 3
    classes = np.array([0, 0, 0, 1, 1, 1])
    found = key_phrases(docs, classes, {}, None, originals=True)
    assert "SQL query" in found[0]
    headings = ["REQUIREMENTS: five years of Java"] * 2 + ["list the requirements for Java"] * 3
    matlab = ["plot it in MATLAB"] * 3 + ["matlab plot"] * 2
    spelled = key_phrases(headings + matlab, np.array([0] * 5 + [1] * 5), {}, None, originals=True)
    assert "requirements" in spelled[0] and "REQUIREMENTS" not in spelled[0]
    assert "MATLAB" in spelled[1]  # capitals that are its usual spelling stay
    greetings = ["Sup", "SUP GPT", "sup bro"] + ["Bake banana bread today"] * 3
    spelled = key_phrases(greetings, np.array([0] * 3 + [1] * 3), {}, None, originals=True)
    assert "sup" in spelled[0] and "SUP" not in spelled[0]  # a shout spells no acronym
    title = phrase_title(["a" * 40, "second phrase", "third phrase here", "fourth"])
    assert len(title) <= 60
    assert phrase_title(["sql query", "sql", "query plan"]) == "Sql query, query plan"
    fenced = "```markdown\n# [Ecma approves ECMAScript 2024](https://x.org/a) see https://y.io"
    assert prompt_title(fenced) == "Ecma approves ECMAScript 2024 see"
    assert len(prompt_title("word " * 40)) <= 60


def test_a_description_speaks_of_the_whole_cluster():
    facts = {"size": 220, "share": 0.023, "unique": 207}
    mixed = describe(
        {**facts, "languages": [("English", 207), ("Dutch", 1)]}, ["dict", "python"], "a prompt"
    )
    assert mixed.startswith("220 prompts (2.3% of the run), 207 unique; mostly English 94%.")
    assert "Dutch" not in mixed  # not "Dutch 0%"
    assert 'Key phrases: dict, python. Typical: "a prompt"' in mixed
    two = describe({**facts, "languages": [("English", 150), ("German", 70)]}, [], "x")
    assert "mostly English 68%, German 32%." in two
    one = describe({**facts, "unique": 220, "languages": [("Russian", 220)]}, [], "x")
    assert one.startswith("220 prompts (2.3% of the run); Russian.")
    nearly = describe({**facts, "languages": [("English", 219), ("Dutch", 1)]}, [], "x")
    assert "mostly English >99%." in nearly  # 100% only of all of them


def test_the_counts_of_a_description_are_found_to_rewrite_and_to_leave_out_of_search():
    from lmsys_tui.engine.naming.counts import COUNTS, counts_sentence, without_counts

    facts = {"size": 1234, "share": 0.1234, "unique": 1200, "languages": [("English", 1233)]}
    sentence = counts_sentence(facts)
    assert sentence == "1,234 prompts (12.3% of the run), 1,200 unique; mostly English >99%."
    taxonomy = f"Coding › Python (similarity 0.61): Python code. {sentence} Key phrases: dict."
    assert COUNTS.search(taxonomy).group() == sentence
    assert (
        without_counts(taxonomy)
        == "Coding › Python (similarity 0.61): Python code. Key phrases: dict."
    )
    assert without_counts("An LLM's description: 3 prompts.") == "An LLM's description: 3 prompts."


def test_a_topic_name_carries_the_clusters_own_phrases_within_the_title_limit():
    # Two clusters that match one topic keep telling apart; a phrase that repeats the
    # topic's words ("short story" under "Short stories") is left out.
    assert topic_title("Short stories", ["short story", "dragons", "bedtime"]) == (
        "Short stories: Dragons, bedtime"
    )
    assert topic_title("Short stories", ["space opera"]) == "Short stories: Space opera"
    assert topic_title("Travel planning", []) == "Travel planning"
    long = topic_title("Copywriting and product descriptions", ["business", "marketing plans"])
    assert long == "Copywriting and product descriptions: Business" and len(long) <= 60
    assert topic_title("x" * 70, ["phrase"]) == "x" * 60


def test_each_text_leaves_out_its_own_languages_stop_words():
    spanish = [
        "¿Como hago una paella valenciana?",
        "Como cocinar paella con mariscos",
        "Receta de paella: como empezar",
    ]
    english = ["Door design ideas for a small flat", "Modern door design", "Door design trends"]
    docs = spanish + english
    classes = np.array([0, 0, 0, 1, 1, 1])
    blind = key_phrases(docs, classes, {}, None)
    assert "como" in blind[0]  # without languages, Spanish function words name the cluster
    found = key_phrases(docs, classes, {}, None, languages=["Spanish"] * 3 + ["English"] * 3)
    assert "paella" in found[0] and not {"como", "con", "una"} & set(found[0])
    # "door" and "design" are Dutch and Czech stop words: English texts keep them.
    assert "door design" in found[1]
    assert stop_words("Klingon") == stop_words()  # a language without a list: English only


def test_the_labellers_sample_carries_each_texts_language_or_none(workspace, tmp_path):
    rows = fixture_rows()
    for row in rows[::2]:
        del row["language"]  # a source without languages for these
    load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "mixed.jsonl", rows))))
    space_id = embed_queries(workspace, EmbedStep(), embedder=HashEmbedder()).space_id
    run_id = cluster_space(workspace, ClusterStep(n_clusters=2, seed=1), space_id).run_id
    sample = cluster_samples(workspace, run_id, seed=0)
    assert len(sample.texts) == len(sample.languages) == len(rows)
    assert set(sample.languages) == {"English", None}


def test_key_phrases_are_the_same_in_every_process():
    # Twenty words that tie on every score: Python's string hashing differs per process and
    # once decided which of them were kept.
    script = (
        "import numpy as np\n"
        "from lmsys_tui.engine.naming.phrases import key_phrases\n"
        "words = ' '.join(f'topic{chr(97 + i)}word' for i in range(20))\n"
        "docs = [words] * 3 + ['banana bread recipe'] * 3\n"
        "print(key_phrases(docs, np.array([0, 0, 0, 1, 1, 1]), {}, None)[0])\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    (output,) = outputs
    assert output.count("topic") >= 8  # eight phrases of the tied words, the same each time


def test_level_plan_tops_out_at_a_browsable_size_and_never_a_lone_root():
    assert level_plan(50, 3, 0.3, 12) == [24, 12]
    assert level_plan(1000, 3, 0.2, 12) == [229, 52, 12]
    assert level_plan(20, 3, 0.2, 12) == [8]  # a 20-cluster run no longer ends in one root
    assert level_plan(3, 3, 0.5, 12) == [2]
    assert level_plan(2, 3, 0.5, 12) == []
    for n in range(3, 400, 7):
        plan = level_plan(n, 3, 0.2, 12)
        assert all(size >= 2 for size in plan) and plan == sorted(plan, reverse=True)


def _node(i: int, size: int, direction: int) -> Node:
    centroid = np.zeros(4, np.float32)
    centroid[direction] = 1.0
    centroid[(direction + 1) % 4] = 0.01 * i
    return Node(f"L0-{i}", 0, centroid / np.linalg.norm(centroid), size, "", "", i, leaves=(i,))


def test_a_category_is_never_named_as_one_of_its_subcategories():
    from lmsys_tui.engine.hierarchy.build import _unlike_children

    def node(title):
        return Node("L1-0", 1, np.ones(2, np.float32), 10, title, "")

    kids = [node("SQL, data, schema"), node("Patients, clinical, health")]
    phrases = ["SQL", "data", "schema", "database", "tests"]
    assert _unlike_children(phrases, kids, "") == "SQL, data, tests"  # the best phrases stay
    assert _unlike_children(phrases, [node("Other")], "") == "SQL, data, schema"
    noise = [node("Noise: SQL, data, schema"), node("Noise: odd requests")]
    assert _unlike_children(phrases, noise, "Noise: ") == "Noise: SQL, data, tests"
    assert _unlike_children(["SQL"], [node("SQL")], "") == "SQL"  # no other name to give
    assert _unlike_children([], kids, "") == ""


def test_a_category_over_the_cap_is_split_unless_it_is_one_cluster():
    big = [_node(i, 10, i % 2) for i in range(6)]  # 60 prompts in one group
    small = [_node(10 + i, 5, 2) for i in range(4)]  # 20 prompts
    groups = _balanced([big, small], cap=0.35 * 80, most=8)
    assert max(sum(n.size for n in g) for g in groups) <= 0.35 * 80 + 10
    assert sorted(n.node_id for g in groups for n in g) == sorted(n.node_id for n in big + small)
    lone = [_node(20, 70, 0)]  # the data's own skew: one cluster cannot be split
    assert _balanced([lone, small], cap=0.35 * 90, most=8) == [lone, small]


def test_a_category_of_one_node_keeps_that_nodes_name():
    # Two baking clusters share a category; SQL and the noise each stand alone.
    leaves = [_node(0, 10, 0), _node(1, 10, 0), _node(2, 10, 1)]
    for leaf, title in zip(leaves, ["Bread dough", "Sourdough starter", "SQL joins"], strict=True):
        leaf.title = title
    noise = Node("L0-noise", 0, leaves[2].centroid, 30, "Noise: odd requests", "", -1, leaves=(-1,))
    texts = ["bake bread dough at home", "feed a sourdough starter", "join SQL tables", "hmm"]
    sample = ClusterSample(texts * 3, np.array([0, 1, 2, -1] * 3), [None] * 12)
    parents = _merge([*leaves, noise], 1, 2, [*leaves, noise], sample, None)
    titles = {p.leaves: p.title for p in parents}
    assert titles[(2,)] == "SQL joins" and titles[(-1,)] == "Noise: odd requests"
    assert titles[(0, 1)] not in ("Bread dough", "Sourdough starter")  # named from both


def test_the_default_taxonomy_has_hundreds_of_topics_in_broad_areas():
    topics = load_taxonomy()
    areas = {t.area for t in topics}
    assert len(topics) >= 150 and 15 <= len(areas) <= 25
    assert all(t.name and t.description for t in topics)


def test_a_users_taxonomy_file_is_read_and_a_bad_one_is_one_line(tmp_path):
    good = tmp_path / "mine.csv"
    good.write_text("area,name,description\nFood,Baking,Bread and cakes\n", encoding="utf-8")
    assert [t.name for t in load_taxonomy(str(good))] == ["Baking"]
    bad = tmp_path / "bad.csv"
    bad.write_text("topic,text\nx,y\n", encoding="utf-8")
    with pytest.raises(SummaryError, match="needs the columns area, name, description"):
        load_taxonomy(str(bad))
    with pytest.raises(SummaryError, match="cannot read taxonomy"):
        load_taxonomy(str(tmp_path / "missing.toml"))


def test_taxonomy_mode_names_confident_clusters_by_topic(embedded_workspace, tmp_path):
    root, space = embedded_workspace
    with open_workspace(root) as ws:
        run_id = cluster_space(ws, ClusterStep(n_clusters=3, seed=1, run_id="tax3"), space).run_id
        result = summarize_run(ws, SummarizeStep(model="taxonomy", alias="tax"), run_id)
        rows = ws.con.execute(
            "SELECT title, description FROM cluster_summaries WHERE summary_run_id = ?",
            [result.summary_run_id],
        ).fetchall()
        strict = summarize_run(
            ws, SummarizeStep(model="taxonomy", alias="strict", min_similarity=0.99), run_id
        )
        strict_titles = {
            t
            for (t,) in ws.con.execute(
                "SELECT title FROM cluster_summaries WHERE summary_run_id = ?",
                [strict.summary_run_id],
            ).fetchall()
        }
    topics = {"SQL queries", "Cooking and recipes", "Travel planning"}
    assert {title.split(": ")[0] for title, _ in rows} == topics
    assert all(": " in title and len(title) <= 60 for title, _ in rows)  # with specifics
    assert all("(similarity 0." in description for _, description in rows)
    # No confident match: the key-phrase title stays, and the description says why.
    assert not {title.split(": ")[0] for title in strict_titles} & topics

    # A split's parts keep the whole's topic, each with its own phrases and counts; with
    # no confident topic, each keeps the note on the closest one.
    def names(summary_run_id):
        return dict(
            (c, (t, d))
            for c, t, d in ws.con.execute(
                "SELECT cluster_id, title, description FROM cluster_summaries "
                "WHERE summary_run_id = ?",
                [summary_run_id],
            ).fetchall()
        )

    with open_workspace(root) as ws:
        whole = names(result.summary_run_id)[0]
        split_cluster(ws, run_id, 0)
        parts, strict_parts = names(result.summary_run_id), names(strict.summary_run_id)
        sizes = dict(
            ws.con.execute(
                "SELECT cluster_id, size FROM clusters WHERE run_id = ?", [run_id]
            ).fetchall()
        )
    topic, head = whole[0].split(": ")[0], whole[1].split(" prompts (")[0].rsplit(" ", 1)[0]
    for part in (0, 3):
        title, description = parts[part]
        assert title.startswith(f"{topic}: ") and title != whole[0] and "(part" not in title
        assert description.startswith(f"{head} {sizes[part]} prompts (")
        assert "Closest taxonomy topic: " in strict_parts[part][1]
    assert parts[0][0] != parts[3][0]


def test_an_unbalanced_top_level_is_reported_whichever_path_built_it():
    assert _balance_warnings([0.02, 0.1, 0.3], top_nodes=12) == []
    (warning,) = _balance_warnings([0.02, 0.1, 0.52], top_nodes=12)
    assert "52% of prompts" in warning and "top_size" in warning
    assert _balance_warnings([0.2, 0.6], top_nodes=2) == []  # of two, one holds half or more
