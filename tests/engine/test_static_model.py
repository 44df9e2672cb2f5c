"""The static quick-look model: distilled once with model2vec into the cache folder, used
by `[embed] model = "static"` with its trade-off stated. The tests distill a tiny random
BERT that shares the bundled model's tokenizer (seconds, not the bundled model's minute)."""

from __future__ import annotations

import pytest

from lmsys_tui.engine.embedding import embedders
from lmsys_tui.engine.embedding.embedders import (
    STATIC_TRADE_OFF,
    StaticEmbedder,
    static_model_folder,
)
from lmsys_tui.engine.jobs import run_job
from lmsys_tui.engine.retrieval.search import Searcher
from lmsys_tui.engine.specs import JobSpec
from lmsys_tui.engine.workspace import open_workspace


@pytest.fixture
def distilled_from_tiny_bert(tiny_bert, tmp_path, monkeypatch):
    """The static model's source is the tiny BERT; the cache folder is the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(embedders, "model_path", lambda model: str(tiny_bert))
    return static_model_folder()


def test_a_static_job_distills_once_embeds_and_says_the_trade_off(
    distilled_from_tiny_bert, lmsys_file, tmp_path
):
    job = JobSpec.model_validate(
        {
            "load": {"source": str(lmsys_file)},
            "embed": {"model": "static"},
            "cluster": {"algorithm": "kmeans", "n_clusters": 3},
        }
    )
    messages: list[str] = []
    with open_workspace(tmp_path / "ws") as ws:
        result = run_job(ws, job, lambda event: messages.append(event.message))
        assert result["embed"]["space_id"] == "m2v-static"
        assert result["embed"]["embedded"] == 30 and result["embed"]["dim"] == 32
        assert STATIC_TRADE_OFF in result["warnings"]
        assert messages.count("distilling the static quick-look model (once)") == 1
        assert (distilled_from_tiny_bert / "model.safetensors").is_file()

        found = Searcher(ws, run_id=result["cluster"]["run_id"]).search_queries(
            "SQL join query", mode="semantic", n=3
        )
        assert len(found.hits) == 3

        messages.clear()
        again = run_job(ws, JobSpec.model_validate({"embed": {"model": "static"}}), messages.append)
        assert again["embed"]["embedded"] == 0
        assert not any("distilling" in str(message) for message in messages)


def test_an_interrupted_distillation_leaves_nothing_behind(distilled_from_tiny_bert, monkeypatch):
    import model2vec.distill

    def interrupted(**_):
        raise KeyboardInterrupt

    monkeypatch.setattr(model2vec.distill, "distill", interrupted)
    with pytest.raises(KeyboardInterrupt):
        StaticEmbedder().dimension()
    parent = distilled_from_tiny_bert.parent
    assert not distilled_from_tiny_bert.exists()
    assert not [path for path in parent.iterdir() if path.name.startswith(".distilling-")]


def test_the_static_model_embeds_unit_vectors_and_cuts_huge_texts(distilled_from_tiny_bert):
    embedder = StaticEmbedder()
    vectors = embedder.embed(["hello world", "x" * 1_000_000, ""])
    assert vectors.shape == (3, 32)
    norms = (vectors**2).sum(axis=1)
    assert abs(norms[0] - 1) < 1e-5 and abs(norms[1] - 1) < 1e-5
