"""Copies within a run and detected languages."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from lmsys_tui.engine.browse import (
    cluster_detail,
    cluster_queries,
    count_cluster_queries,
    list_clusters,
    query_detail,
)
from lmsys_tui.engine.clustering.runs import cluster_space
from lmsys_tui.engine.curation.edits import move_queries
from lmsys_tui.engine.embedding.embed import embed_queries
from lmsys_tui.engine.enrich.languages import detect_languages, english_only_warning
from lmsys_tui.engine.export import export_run
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.naming.summarize import summarize_run
from lmsys_tui.engine.specs import ClusterStep, EmbedStep, LoadStep, SummarizeStep
from lmsys_tui.wording import count_of
from tests.conftest import TOPICS, WordHashEmbedder, write_jsonl

TEMPLATE = (
    "You are a helpful assistant for a small shop. Read the customer message below and "
    "answer politely in two short sentences, mention our opening hours and thank them "
    "for writing to us today. Customer message: my {} arrived broken"
)
COLUMNS = {"text_column": "prompt", "id_column": "id"}


def _rows():
    rows = [{"id": f"haiku-{i}", "prompt": "Write a haiku about autumn leaves"} for i in range(40)]
    rows[1]["prompt"] = "write a HAIKU about autumn leaves!!"  # same text once normalised
    for i, item in enumerate(["lamp", "vase", "chair", "mirror", "clock", "kettle"]):
        rows.append({"id": f"template-{i}", "prompt": TEMPLATE.format(item)})
    for topic, prompts in TOPICS.items():
        rows += [{"id": f"{topic}-{i}", "prompt": p} for i, p in enumerate(prompts)]
    return rows


def test_copies_are_counted_and_never_shown_twice(workspace, tmp_path):
    source = write_jsonl(tmp_path / "copies.jsonl", _rows())
    load(workspace, LoadStep(source=str(source), text_column="prompt", id_column="id"))
    embedder = WordHashEmbedder()
    space = embed_queries(workspace, EmbedStep(model=embedder.model), embedder=embedder).space_id
    run = cluster_space(workspace, ClusterStep(n_clusters=5, seed=2, run_id="c5"), space)
    assert run.metrics["duplicates"]["exact"] == 39
    assert run.metrics["duplicates"]["near"] >= 4  # the template with other fillers
    summary = summarize_run(workspace, SummarizeStep(max_queries=6), "c5")
    con = workspace.con
    haiku = con.execute(
        "SELECT cluster_id FROM query_clusters JOIN queries USING (query_id) "
        "WHERE run_id = 'c5' AND query_text = 'Write a haiku about autumn leaves' LIMIT 1"
    ).fetchall()[0][0]
    info = next(
        c for c in list_clusters(con, "c5", summary.summary_run_id) if c.cluster_id == haiku
    )
    assert info.size >= 40 and info.unique == info.size - 39
    detail = cluster_detail(con, "c5", haiku, summary.summary_run_id, examples=10)
    texts = [text.lower().strip("!") for _, text in detail.representatives]
    assert len(texts) == len(set(texts))  # each text once
    assert detail.unique == info.unique
    some_copy = con.execute(
        "SELECT query_id FROM duplicates WHERE run_id = 'c5' AND kind = 'exact' LIMIT 1"
    ).fetchall()[0][0]
    assert query_detail(con, some_copy).clusters[0].copies == 39
    # A cluster's query list shows the haiku once, its 39 copies counted on its row.
    listed, copies = count_cluster_queries(con, "c5", haiku)
    rows = cluster_queries(con, "c5", haiku, limit=1000)
    assert len(rows) == listed == info.size - copies and copies >= 39
    haikus = [row for row in rows if "haiku" in row.text.lower()]
    assert len(haikus) == 1 and haikus[0].copies == 39
    assert sum(row.copies for row in rows) == copies
    assert [count_of(n, "copy", "copies") for n in (1, 39)] == ["1 copy", "39 copies"]
    # The labeller reads unique texts: the haiku cluster's description counts them.
    description = con.execute(
        "SELECT description FROM cluster_summaries WHERE summary_run_id = ? AND cluster_id = ?",
        [summary.summary_run_id, haiku],
    ).fetchall()[0][0]
    assert f"{info.unique:,} unique" in description
    # An export says which query each copy copies, so a reader can count texts once.
    exported = export_run(workspace, "c5", tmp_path / "c5.parquet")
    rows = pq.read_table(exported.path).to_pylist()
    exact = [row for row in rows if row["copy_kind"] == "exact"]
    assert len(exact) == 39 and len({row["copy_of"] for row in exact}) == 1
    assert all(row["copy_of"] is None for row in rows if row["copy_kind"] is None)

    # Moving the original haiku away leaves its 39 copies behind: there they are the text's
    # only members, so the cluster counts, lists and represents it once, not zero times.
    original = con.execute(
        "SELECT DISTINCT canonical_id FROM duplicates WHERE run_id = 'c5' AND kind = 'exact'"
    ).fetchall()[0][0]
    other = next(c for c in range(5) if c != haiku)
    move_queries(workspace, "c5", [original], other)
    moved = cluster_detail(con, "c5", haiku, summary.summary_run_id, examples=10)
    listed, copies = count_cluster_queries(con, "c5", haiku)
    assert moved.unique == listed == moved.size - copies
    assert moved.size == 39 and copies == 38  # the first of the 39 copies shows the text
    shown = [text.lower().strip("!") for _, text in moved.representatives]
    assert shown == ["write a haiku about autumn leaves"]  # 39 copies of one text: one row
    assert original not in [query_id for query_id, _ in moved.representatives]  # moved away


def test_texts_that_differ_are_never_exact_copies_even_when_duckdbs_hash_collides(
    workspace, tmp_path
):
    # Two of 158 pairs DuckDB's hash() gave one value among 1M synthetic prompts.
    colliding = [
        "topic 124 question number 126595 about things",
        "topic 174 question number 126596 about things",
    ]
    rows = [{"id": str(i), "prompt": text} for i, text in enumerate([*colliding, colliding[0]])]
    load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "c.jsonl", rows)), **COLUMNS))
    embedder = WordHashEmbedder()
    space = embed_queries(workspace, EmbedStep(model=embedder.model), embedder=embedder).space_id
    run = cluster_space(workspace, ClusterStep(n_clusters=1, run_id="one"), space)
    assert run.metrics["duplicates"]["exact"] == 1  # the repeated text, not its neighbour
    exact = workspace.con.execute(
        "SELECT q.conversation_id, c.conversation_id FROM duplicates d "
        "JOIN queries q USING (query_id) JOIN queries c ON c.query_id = d.canonical_id "
        "WHERE d.kind = 'exact'"
    ).fetchall()
    assert exact == [("2", "0")]


def test_detected_languages_fill_the_facets_and_a_rerun_resumes(workspace, tmp_path):
    rows = [
        {"id": "en", "prompt": "How do I bake a loaf of sourdough bread at home with rye flour?"},
        {"id": "ru", "prompt": "Как приготовить борщ со свёклой и капустой дома?"},
        {"id": "zh", "prompt": "请推荐一本适合初学者的机器学习入门书籍"},
        {
            "id": "de",
            "prompt": "Wie kann ich meine Wohnung im Winter günstig und effizient heizen?",
        },
    ]
    source = write_jsonl(tmp_path / "langs.jsonl", rows)
    load(workspace, LoadStep(source=str(source), text_column="prompt", id_column="id"))
    first = detect_languages(workspace)
    again = detect_languages(workspace)
    found = dict(workspace.con.execute("SELECT conversation_id, language FROM queries").fetchall())
    assert found == {"en": "English", "ru": "Russian", "zh": "Chinese", "de": "German"}
    assert first.detected == 4 and again.detected == 0 and again.already_known == 0
    embedder = WordHashEmbedder()
    space = embed_queries(workspace, EmbedStep(model=embedder.model), embedder=embedder).space_id
    cluster_space(workspace, ClusterStep(n_clusters=1, run_id="one"), space)
    facets = dict(cluster_detail(workspace.con, "one", 0).languages)
    assert facets == {"English": 1, "Russian": 1, "Chinese": 1, "German": 1}
    warning = english_only_warning(workspace, "sentence-transformers", "all-MiniLM-L6-v2")
    assert warning and "75% of prompts" in warning and "multilingual" in warning
    assert english_only_warning(workspace, "sentence-transformers", "x-multilingual-y") is None


def test_redetect_reads_detected_languages_again_and_keeps_the_sources(workspace, tmp_path):
    from lmsys_tui.engine.job_plan import plan_job
    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.specs import JobSpec, LanguagesStep

    prompt = "How do I bake a loaf of sourdough bread at home with rye flour?"
    rows = [
        {"conversation_id": "found", "conversation": [{"role": "user", "content": prompt}]},
        {
            "conversation_id": "given",
            "conversation": [{"role": "user", "content": prompt + " Please."}],
            "language": "Portuguese",  # what the source says stands, right or wrong
        },
    ]
    load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "two.jsonl", rows))))
    detect_languages(workspace)
    # An older detector's reading, kept until asked to detect again.
    workspace.con.execute("UPDATE queries SET language = 'Dutch' WHERE conversation_id = 'found'")
    workspace.con.execute("UPDATE detected_languages SET language = 'Dutch'")
    spec = JobSpec(languages=LanguagesStep(redetect=True))
    (plan,) = plan_job(workspace, spec)
    assert plan["does"] == "1 query without a language or with a detected one"
    result = run_job(workspace, spec)["languages"]
    assert result["detected"] == 1 and result["already_known"] == 1
    found = dict(workspace.con.execute("SELECT conversation_id, language FROM queries").fetchall())
    assert found == {"found": "English", "given": "Portuguese"}
    assert run_job(workspace, JobSpec(languages=LanguagesStep()))["languages"]["detected"] == 0


def test_short_technical_questions_are_english_and_short_foreign_ones_are_not():
    from lmsys_tui.engine.enrich.languages import detect

    # lingua alone reads the first four as Dutch, French, German and Dutch.
    english = [
        "How do I make an HTTP request in Javascript?",
        "what is stable diffusion",
        "How to run PostgreSQL in Docker?",
        "Install Node.js, TypeScript and VS Code on computer.",
    ]
    foreign = ["come mi chiamo?", "Geschichte über Alpacas", "hvad betyder html?"]
    assert detect(english) == ["English"] * 4
    assert detect(foreign) == ["Italian", "German", "Danish"]
    # Long texts too: lingua's fast mode called this one Romanian.
    shader = (
        "Explain code: float e,i,a,w,x,g;for(;i++<1e2;){vec3 p=vec3((FC.xy-.5*r)/r.y*g,g-3.);"
        "p.zy*=rotate2D(.6);i<1e2?p:p+=1e-4;e=p.y;for(a=.8;a>.003;a*=.8)p.xz*=rotate2D(5.),"
        "x=(++p.x+p.z)/a+t+t,w=exp(sin(x)-2.5)*a,o.gb+=w/4e2,p.xz-=w*cos(x),e-=w;g+=e;}"
    )
    french = (
        "Peux-tu générer une histoire réconfortante pour dormir pour une personne qui doit "
        "se lever tôt demain matin et qui a du mal à trouver le sommeil ?"
    )
    russian = "Напиши подробный план путешествия по Золотому кольцу России на неделю с детьми"
    assert detect([shader, french, russian * 2]) == ["English", "French", "Russian"]
    # One Latin word is too little to tell ("Javascript" read as Finnish); English stays.
    assert detect(["Javascript", "sfdsfsdf", "thanks"]) == [None, None, "English"]
    # English's own words decide most English texts without lingua; a request in another
    # language before English text, or words shared with other languages, do not.
    from lmsys_tui.engine.enrich.languages import _plainly_english

    dutch = (
        "Vertaal deze tekst naar het Nederlands en vat de belangrijkste onderwerpen samen: "
        "The quick brown fox jumps over the lazy dog, and then it runs away from the farmer."
    )
    spanish, polish = "Escribe un poema sobre el mar y la luna", "Napisz wiersz o tym, co to jest"
    plain = "What is the capital of France, and how old is it?"
    assert _plainly_english(plain) and not any(map(_plainly_english, (dutch, spanish, polish)))
    assert detect([plain, dutch, spanish, polish]) == ["English", "Dutch", "Spanish", "Polish"]
    # lingua leaves these undecided (English a little behind Dutch, Finnish, German): three
    # words of prose or more are English; fewer stay undetermined.
    undecided = ["how to check if var is string in javascript", "tell me a joke", "what is chicken"]
    assert detect([*undecided, "hi", "Hello", "test", "33"]) == ["English"] * 3 + [None] * 4
    # Code and data with next to no prose, or an English request before them, are English
    # (lingua reads these two as Dutch and German); a foreign request keeps its language.
    code = (
        "import numpy as np \nimport pandas as pd\nimport matplotlib.pyplot as plt\n\n"
        'filename = "/content/NA-2-data/ring\\_data\\_5.pkl"\ndf = pd.read\\_pickle(filename)\n'
        "data = df.to\\_numpy()\nndat, m1 = np.shape(data)\nndim = m1-1\n\n"
        "X = np.transpose(data[:, 0:ndim])\nY = np.reshape(data[:,ndim], (ndat,1))\n"
    )
    base64 = (
        "I will give you my next inputs as base64, please decode them and reply to them. "
        "When replying, encode your reply as base64.\nRG8gbm90IGNvcHkgdGhlIGRlY29kZWQgdGV4dCBm"
        "cm9tIG1pbmUgYW5kIHBsZWFzZSBlbmNvZGUgeW91ciByZXBsaWVzIHRvIGJhc2U2NC4gRG8geW91IHVuZGVy"
        "c3RhbmQgbWU/IEFuc3dlciBpbiBiYXNlNjQ="
    )
    french = (
        "Dans la SP suivante je veux - Remplacer le paramètre @InvoiceUID par @InvoiceUIDList "
        "qui est varchar(max), c'est des UIDs séparés par une virgule (UID1,UID2)"
    )
    assert detect([code, base64, french]) == ["English", "English", "French"]
    # A request in another script before code is in that language (lingua said English);
    # an English one followed by a few words in another script stays English.
    russian = (
        "добавь в этот код кнопку рестарта и скажи куда подключать ее плюс или минус\n"
        "#include <SPI.h>\n#include <Wire.h>\n#include <Adafruit_GFX.h>\n"
        "#include <Adafruit_SSD1306.h>\n#define SCREEN_WIDTH 128\n#define SCREEN_HEIGHT 64\n"
        "Adafruit_SSD1306 display(SCREEN_WIDTH, SCREEN_HEIGHT, &Wire, -1);\n"
    )
    chinese = (
        "我发现我使用 rust 设置 socket 的 SO_RCVTIMEO 只能设置或者读取一次, "
        "下一次就会失败你知道这是什么情况吗?\n```\nset SO_RCVTIMEO to 3s\n"
        "thread 'p2p::test' panicked at quicocks/src/p2p/mod.rs:230:44:\n"
        "called `Result::unwrap()` on an `Err` value: Os { code: 9, kind: Uncategorized, "
        'message: "Bad file descriptor" }\nnote: run with `RUST_BACKTRACE=1`'
    )
    english = "What is 10 issues of ASEAN in recently?\n\n\n\n 지금 번역하기\n"
    assert detect([russian, chinese, english * 3]) == ["Russian", "Chinese", "English"]


def test_new_copies_point_at_the_text_the_cluster_already_shows():
    from lmsys_tui.engine.enrich.duplicates import _canonical_of_new, _links_of_new, _TemplateCheck

    def canonical(old, old_ids, new, new_ids) -> list[int]:
        short = np.zeros(len(old), bool), np.zeros(len(new), bool)
        links = _links_of_new((old, old_ids, short[0]), (new, new_ids, short[1]), _TemplateCheck())
        return _canonical_of_new(links, new_ids).tolist()

    basis = np.eye(4, dtype=np.float32)
    old, old_ids = basis[:2], np.array([10, 11])
    nudge = 0.2 * basis[3]  # cosine ~0.98 to the row it nudges
    new = np.stack([basis[0] + nudge, basis[2], basis[2] + nudge, basis[1] + nudge])
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    # a copy of an old text; a new text; a copy of that new text; a copy of the other old one
    assert canonical(old, old_ids, new, np.array([20, 21, 22, 23])) == [10, -1, 21, 11]
    # A cluster with no text shown before: the new ones copy each other only.
    empty = np.zeros((0, 4), np.float32)
    assert canonical(empty, old_ids[:0], new[1:3], np.array([21, 22])) == [-1, 21]


LONG_TEMPLATE = (
    "I want you to act as a prompt generator. Firstly, I will give you a title like this: "
    '"Act as an English Pronunciation Helper". Then you give me a prompt for it, and you '
    'only reply with the prompt, nothing else. My first title is "{}" (Give me prompt only)'
)
TEMPLATE_BAND = {  # text -> (share of the first cluster's direction, axis, turn off it)
    LONG_TEMPLATE.format("Act as a Morse Code Translator"): (0.8, 1, 0.0),
    LONG_TEMPLATE.format("Act as a Code Review Helper"): (0.8, 1, 0.72),  # cosine 0.89
    "Write a poem about cats": (0.8, 3, 0.0),
    "Write a poem about dogs": (0.8, 3, 0.72),  # as alike, but short
    "Summarise this meeting transcript for the sales team and list every action item "
    "with its owner and due date, then draft a short follow-up email to the customer "
    "that thanks them and confirms the next call on Thursday morning.": (0.8, 5, 0.0),
    "Review the attached pull request for thread safety, explain each data race you "
    "find with the lines involved, and suggest a fix that keeps the public interface of "
    "the connection pool unchanged for the callers that use it today.": (0.8, 5, 0.72),
    "hello there": (0.5, 7, 0.0),  # the first cluster's farthest member
    "translate to French: good morning": (0.0, 9, 0.0),  # the second cluster
    "translate to French: good night": (0.0, 9, 0.6),
}


class BandEmbedder:
    """Vectors placed by TEMPLATE_BAND: each pair of the first cluster at cosine 0.89,
    within reach of the template check but short of NEAR_COSINE; other pairs at 0.64."""

    provider = "sentence-transformers"
    model = "band-test-model"
    dim = 11

    def dimension(self) -> int:
        return self.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            share, axis, turn = TEMPLATE_BAND[text]
            own = np.zeros(self.dim)
            own[axis], own[axis + 1] = np.sqrt(1 - turn**2), turn
            rows.append(share * np.eye(self.dim)[0] + np.sqrt(1 - share**2) * own)
        return np.array(rows, dtype=np.float32)


def test_a_long_template_with_another_filler_is_a_near_copy_when_its_vector_is_less_alike(
    workspace, tmp_path
):
    from lmsys_tui.engine.clustering.assign import assign_new_queries
    from lmsys_tui.engine.specs import AssignStep

    rows = [{"id": f"t{i}", "prompt": text} for i, text in enumerate(TEMPLATE_BAND)]
    later, first = [rows[1]], [row for row in rows if row is not rows[1]]
    embedder, step = BandEmbedder(), EmbedStep(model=BandEmbedder.model)

    def marks(run_id: str) -> dict:
        return dict(
            workspace.con.execute(
                "SELECT q.conversation_id, c.conversation_id FROM duplicates d "
                "JOIN queries q USING (query_id) JOIN queries c ON c.query_id = d.canonical_id "
                "WHERE d.run_id = ?",
                [run_id],
            ).fetchall()
        )

    load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "a.jsonl", first)), **COLUMNS))
    space = embed_queries(workspace, step, embedder=embedder).space_id
    cluster_space(workspace, ClusterStep(n_clusters=2, seed=0, run_id="c2"), space)
    assert marks("c2") == {}
    # The template with another title arrives later: it is a copy of the one the run shows.
    # The short prompts just as alike by vector, and the long ones that share no template,
    # stay apart.
    load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "b.jsonl", later)), **COLUMNS))
    embed_queries(workspace, step, embedder=embedder)
    assign_new_queries(workspace, AssignStep(novelty_percentile=100), "c2")
    assert marks("c2") == {"t1": "t0"}
    # Marking the whole run again finds the same pair, one way round or the other.
    run = cluster_space(workspace, ClusterStep(n_clusters=2, seed=0, run_id="again"), space)
    assert run.metrics["duplicates"] == {**run.metrics["duplicates"], "exact": 0, "near": 1}
    ((copy, canonical),) = marks("again").items()
    assert sorted([copy, canonical]) == ["t0", "t1"]


def test_queries_assigned_later_are_marked_as_copies_like_the_runs_own(
    workspace, tmp_path, monkeypatch
):
    from lmsys_tui.engine.clustering.assign import assign_new_queries
    from lmsys_tui.engine.enrich import duplicates
    from lmsys_tui.engine.enrich.duplicates import find_duplicates
    from lmsys_tui.engine.specs import AssignStep

    rows = _rows()
    later = [row for row in rows if row["id"] in ("template-4", "template-5", "haiku-7")]
    first = [row for row in rows if row not in later]
    embedder = WordHashEmbedder()
    step = EmbedStep(model=embedder.model)
    load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "a.jsonl", first)), **COLUMNS))
    space = embed_queries(workspace, step, embedder=embedder).space_id
    run = cluster_space(workspace, ClusterStep(n_clusters=5, seed=2, run_id="c5"), space)
    load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "b.jsonl", later)), **COLUMNS))
    embed_queries(workspace, step, embedder=embedder)
    # Ctrl-C while the copies are marked: the assign is rolled back with them, and the
    # rerun assigns and marks the new queries (none is left in the run unmarked).
    with monkeypatch.context() as patched:
        patched.setattr(duplicates, "_near_copies_of_new", _interrupt)
        with pytest.raises(KeyboardInterrupt):
            assign_new_queries(workspace, AssignStep(novelty_percentile=100), "c5")
    assert workspace.count("query_clusters") == run.n_queries
    assigned = assign_new_queries(workspace, AssignStep(novelty_percentile=100), "c5")
    assert assigned.assigned == 3

    def marks() -> dict:
        found = workspace.con.execute(
            "SELECT q.conversation_id, d.kind FROM duplicates d JOIN queries q USING (query_id) "
            "WHERE d.run_id = 'c5'"
        ).fetchall()
        return dict(found)

    after_assign = marks()
    assert after_assign["haiku-7"] == "exact"
    assert after_assign["template-4"] == after_assign["template-5"] == "near"
    assert assigned.copies["exact"] == run.metrics["duplicates"]["exact"] + 1
    # The same copies as marking the whole run again would find.
    find_duplicates(workspace, "c5", space)
    assert marks() == after_assign


def _interrupt(*args):
    raise KeyboardInterrupt


def test_copies_of_a_near_copy_point_at_the_text_its_group_shows(workspace, tmp_path):
    rows = _rows()
    rows += [
        {"id": f"again-{row['id']}-{n}", "prompt": row["prompt"]}
        for row in rows
        if row["id"].startswith("template-")
        for n in range(2)
    ]
    load(workspace, LoadStep(source=str(write_jsonl(tmp_path / "t.jsonl", rows)), **COLUMNS))
    embedder = WordHashEmbedder()
    space = embed_queries(workspace, EmbedStep(model=embedder.model), embedder=embedder).space_id
    run = cluster_space(workspace, ClusterStep(n_clusters=5, seed=2, run_id="c5"), space)
    con = workspace.con
    chained = con.execute(
        "SELECT count(*) FROM duplicates d JOIN duplicates c "
        "ON c.run_id = d.run_id AND c.query_id = d.canonical_id WHERE d.run_id = 'c5'"
    ).fetchall()[0][0]
    assert chained == 0  # every copy points at a text that is shown
    template_cluster, templates, unique = con.execute(
        "SELECT c.cluster_id, count(*), count(*) - count(d.query_id) FROM query_clusters c "
        "JOIN queries q USING (query_id) LEFT JOIN duplicates d USING (run_id, query_id) "
        "WHERE c.run_id = 'c5' AND q.query_text LIKE 'You are a helpful assistant%' GROUP BY 1"
    ).fetchall()[0]
    assert templates == 18 and unique == 1  # 6 fillers, each 3 times: one text shown
    info = next(c for c in list_clusters(con, "c5") if c.cluster_id == template_cluster)
    assert info.unique == info.size - 17
    # The shown template's 2 copies stay exact; the other 5 fillers' 10 copies are near.
    counts = run.metrics["duplicates"]
    assert (counts["exact"], counts["near"]) == (39 + 2, 5 + 10)


def _template_texts_shown(con) -> list[tuple[int, int]]:
    """(cluster, texts it shows) of the six template prompts."""
    return con.execute(
        "SELECT c.cluster_id, count(*) - count(d.query_id) FROM query_clusters c "
        "JOIN queries q USING (query_id) LEFT JOIN duplicates d USING (run_id, query_id) "
        "WHERE c.run_id = 'c5' AND q.query_text LIKE 'You are a helpful assistant%' "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()


def _template_split_over_two_clusters(workspace, tmp_path):
    """The copies fixture (`_rows`) in 5 clusters, then 3 of the template's 18 prompts moved to
    another cluster and the run's copies marked again: the family split over two clusters
    (as k-means may), each part marked on its own. Returns (home, away, moved ids)."""
    from lmsys_tui.engine.enrich.duplicates import find_duplicates

    source = write_jsonl(tmp_path / "copies.jsonl", _rows())
    load(workspace, LoadStep(source=str(source), **COLUMNS))
    embedder = WordHashEmbedder()
    space = embed_queries(workspace, EmbedStep(model=embedder.model), embedder=embedder).space_id
    cluster_space(workspace, ClusterStep(n_clusters=5, seed=2, run_id="c5"), space)
    con = workspace.con
    ((home, shown),) = _template_texts_shown(con)
    assert shown == 1
    away = next(c for c in range(5) if c != home)
    ids = con.execute(
        "SELECT query_id FROM queries WHERE query_text LIKE 'You are a helpful assistant%' "
        "ORDER BY query_id LIMIT 3"
    ).fetchnumpy()["query_id"]
    move_queries(workspace, "c5", ids.tolist(), away)
    find_duplicates(workspace, "c5", space)
    assert sorted(n for _, n in _template_texts_shown(con)) == [1, 1]
    return home, away, ids.tolist()


def test_a_query_moved_into_a_cluster_that_shows_its_template_is_listed_once(workspace, tmp_path):
    home, _, ids = _template_split_over_two_clusters(workspace, tmp_path)
    con = workspace.con
    # A user moves them home: the family is one text there again, not two.
    move_queries(workspace, "c5", ids, home)
    assert _template_texts_shown(con) == [(home, 1)]
    # Each text was normalised once, by the first marking, and its identity kept.
    kept = con.execute("SELECT count(*), count(DISTINCT query_id) FROM text_hashes").fetchall()
    assert kept == [(len(_rows()), len(_rows()))]
    listed = cluster_queries(con, "c5", home, limit=1000)  # what the TUI and CLI list
    assert sum(row.text.startswith("You are a helpful assistant") for row in listed) == 1
    assert sum(row.copies for row in listed if row.text.startswith("You are")) == 5


def test_a_template_split_over_two_clusters_is_one_group_once_they_merge(workspace, tmp_path):
    from lmsys_tui.engine.curation.edits import merge_clusters
    from lmsys_tui.engine.curation.undo import undo_last_edit

    home, away, _ = _template_split_over_two_clusters(workspace, tmp_path)
    con = workspace.con
    marks = "SELECT query_id, canonical_id, kind FROM duplicates WHERE run_id = 'c5' ORDER BY 1"
    split_marks = con.execute(marks).fetchall()
    merge_clusters(workspace, "c5", [home, away])
    assert _template_texts_shown(con) == [(home, 1)]
    listed = cluster_queries(con, "c5", home, limit=1000)  # what the TUI and CLI list
    assert sum(row.text.startswith("You are a helpful assistant") for row in listed) == 1
    chained = con.execute(
        "SELECT count(*) FROM duplicates d JOIN duplicates c "
        "ON c.run_id = d.run_id AND c.query_id = d.canonical_id WHERE d.run_id = 'c5'"
    ).fetchall()[0][0]
    assert chained == 0
    # Undone, each cluster shows its own text of the template again, with its copies.
    undo_last_edit(workspace, "c5")
    assert sorted(n for _, n in _template_texts_shown(con)) == [1, 1]
    assert con.execute(marks).fetchall() == split_marks
