"""Embedding: one vector per query and space, resume after interruption, the real model."""

from __future__ import annotations

import numpy as np
import pytest

from lmsys_tui.engine.embed import embed_queries, load_space_vectors
from lmsys_tui.engine.errors import EmbedError
from lmsys_tui.engine.ingest import load
from lmsys_tui.engine.specs import EmbedStep, LoadStep
from lmsys_tui.engine.workspace import open_workspace
from tests.conftest import HashEmbedder, write_jsonl


def test_interrupted_embed_resumes_and_never_embeds_twice(workspace, lmsys_file):
    load(workspace, LoadStep(source=str(lmsys_file)))
    interrupted = HashEmbedder(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        embed_queries(workspace, EmbedStep(), embedder=interrupted, chunk_size=7)
    assert workspace.count("embeddings") == 14  # two committed chunks survive
    resumed = HashEmbedder()
    result = embed_queries(workspace, EmbedStep(), embedder=resumed, chunk_size=7)
    assert result.embedded == 16 and result.already_embedded == 14
    assert resumed.texts_seen == 16
    again = HashEmbedder()
    assert embed_queries(workspace, EmbedStep(), embedder=again).embedded == 0
    assert again.calls == 0
    rows = workspace.con.execute(
        "SELECT count(DISTINCT query_id), count(DISTINCT row_index), max(row_index) FROM embeddings"
    ).fetchall()[0]
    assert rows == (30, 30, 29)


def test_vectors_line_up_with_their_queries_after_reopening(tmp_path, lmsys_file):
    with open_workspace(tmp_path / "ws") as ws:
        load(ws, LoadStep(source=str(lmsys_file)))
        space = embed_queries(ws, EmbedStep(), embedder=HashEmbedder(), chunk_size=4).space_id
    with open_workspace(tmp_path / "ws") as ws:
        ids, vectors = load_space_vectors(ws, space)
        texts = dict(ws.con.execute("SELECT query_id, query_text FROM queries").fetchall())
    expected = HashEmbedder().embed([texts[i] for i in ids])
    np.testing.assert_allclose(vectors, expected, atol=2e-3)  # float16 on disk
    assert vectors.dtype == np.float32 and np.allclose(
        np.linalg.norm(vectors, axis=1), 1, atol=2e-3
    )


def test_new_queries_are_appended_to_the_same_space(workspace, lmsys_file, tmp_path):
    load(workspace, LoadStep(source=str(lmsys_file), limit=10))
    embed_queries(workspace, EmbedStep(), embedder=HashEmbedder())
    load(workspace, LoadStep(source=str(lmsys_file)))
    embedder = HashEmbedder()
    result = embed_queries(workspace, EmbedStep(), embedder=embedder)
    assert (result.embedded, result.already_embedded, embedder.texts_seen) == (20, 10, 20)
    assert workspace.count("embedding_spaces") == 1


def test_embedding_an_empty_workspace_is_a_clear_error(workspace):
    with pytest.raises(EmbedError, match="no queries"):
        embed_queries(workspace, EmbedStep(), embedder=HashEmbedder())


def test_unknown_model_name_is_a_one_line_error(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    load(
        workspace,
        LoadStep(
            source=str(
                write_jsonl(
                    tmp_path / "a.jsonl",
                    [{"conversation_id": "1", "conversation": [{"role": "user", "content": "hi"}]}],
                )
            )
        ),
    )
    with pytest.raises(EmbedError, match="cannot load embedding model") as caught:
        embed_queries(workspace, EmbedStep(model=str(tmp_path / "no-such-model"), device="cpu"))
    assert "\n" not in str(caught.value)


def test_bundled_model_gives_normalised_vectors_that_group_topics(embedded_workspace):
    root, space = embedded_workspace
    assert space == "st-all-minilm-l6-v2"
    with open_workspace(root) as ws:
        ids, vectors = load_space_vectors(ws, space)
        topics = dict(ws.con.execute("SELECT query_id, extra->>'topic' FROM queries").fetchall())
    assert vectors.shape == (30, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=2e-3)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1)
    nearest = similarity.argmax(axis=1)
    same_topic = np.mean([topics[ids[i]] == topics[ids[j]] for i, j in enumerate(nearest)])
    assert same_topic > 0.9
