"""Embedding: one vector per query and space, resume after interruption, the real model."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lmsys_tui.engine.embedding.embed import embed_queries, load_space_vectors
from lmsys_tui.engine.errors import EmbedError
from lmsys_tui.engine.load.ingest import load
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


# In a fresh process: huggingface_hub reads HF_HOME and HF_HUB_OFFLINE when imported.
_OFFLINE_HUB = textwrap.dedent(
    """
    import os, shutil, time
    from pathlib import Path
    from lmsys_tui.engine.embedding.embedders import SentenceTransformerEmbedder, model_path
    from lmsys_tui.engine.errors import EmbedError

    repo = Path(os.environ["HF_HOME"]) / "hub" / "models--sentence-transformers--cached-minilm"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    shutil.copytree(model_path("all-MiniLM-L6-v2"), repo / "snapshots" / ("0" * 40))
    SentenceTransformerEmbedder(device="cpu").dimension()  # the bundled model: no hub
    print("offline after the bundled model:", os.environ.get("HF_HUB_OFFLINE"))
    started = time.perf_counter()
    try:
        SentenceTransformerEmbedder("sentence-transformers/not-cached", device="cpu").dimension()
    except EmbedError as error:
        print("error:", error)
    print("seconds:", round(time.perf_counter() - started))
    cached = SentenceTransformerEmbedder("sentence-transformers/cached-minilm", device="cpu")
    print("dimension:", cached.embed(["hello"]).shape[1])
    """
)


def test_offline_a_hub_model_loads_from_the_cache_or_fails_at_once(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HF_") and not key.lower().endswith("_proxy")
    }
    # Nothing listens on port 9: the hub is refused at once, as when a machine is offline.
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="http://127.0.0.1:9")
    done = subprocess.run(
        [sys.executable, "-c", _OFFLINE_HUB], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert lines["error"] == (
        "cannot load embedding model 'sentence-transformers/not-cached': http://127.0.0.1:9 "
        "cannot be reached and the model is not in the Hugging Face cache; the bundled "
        "all-MiniLM-L6-v2 works offline"
    )
    assert int(lines["seconds"]) < 30  # huggingface_hub alone retried for over a minute
    assert lines["dimension"] == "384"  # a cached model loads offline
    # Loading the bundled model left the process online: a hub model after it may download.
    assert lines["offline after the bundled model"] == "None"


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


def test_searches_embed_with_the_onnx_export_and_get_the_models_vectors(embedded_workspace):
    from lmsys_tui.engine.embedding import embed
    from lmsys_tui.engine.embedding.embedders import SentenceTransformerEmbedder
    from lmsys_tui.engine.embedding.query_encoder import OnnxQueryEncoder, encoder_dir

    root, space = embedded_workspace
    with open_workspace(root, read_only=True) as ws:
        assert (encoder_dir(ws, space) / "model.onnx").exists()
        key = ("sentence-transformers", "all-MiniLM-L6-v2")
        embed._SHARED_EMBEDDERS.pop(key, None)
        try:
            encoder = embed.space_embedder(ws, space)
        finally:
            embed._SHARED_EMBEDDERS.pop(key, None)
        assert isinstance(encoder, OnnxQueryEncoder)
        texts = ["vector databases", "Как приготовить борщ?", "x" * 30_000, ""]
        exported = encoder.embed(texts)
    reference = SentenceTransformerEmbedder(device="cpu", precision="fp32").embed(texts)
    assert exported.shape == (4, 384)
    assert np.min(np.sum(exported * reference, axis=1)) >= 0.999


def test_a_damaged_onnx_export_is_not_used(embedded_workspace, tmp_path):
    import shutil

    from lmsys_tui.engine.embedding import embed
    from lmsys_tui.engine.embedding.query_encoder import encoder_dir, load_query_encoder

    root, space = embedded_workspace
    copy = tmp_path / "ws"
    shutil.copytree(root, copy)
    with open_workspace(copy) as ws:
        model_file = encoder_dir(ws, space) / "model.onnx"
        with open(model_file, "r+b") as handle:
            handle.seek(model_file.stat().st_size // 2)
            handle.write(b"\x00" * 3000)  # same size, garbled weights
        assert load_query_encoder(ws, space, "all-MiniLM-L6-v2") is None
        embed._SHARED_EMBEDDERS.pop(("sentence-transformers", "all-MiniLM-L6-v2"), None)
        assert embed.space_embedder(ws, space).__class__.__name__ == "SentenceTransformerEmbedder"
        embed._SHARED_EMBEDDERS.pop(("sentence-transformers", "all-MiniLM-L6-v2"), None)
        # The next embed step exports it again.
        from lmsys_tui.engine.embedding.embed import embed_queries
        from lmsys_tui.engine.specs import EmbedStep

        messages = []
        embed_queries(ws, EmbedStep(device="cpu"), lambda event: messages.append(event.message))
        assert any("query encoder exported" in (message or "") for message in messages)
        assert load_query_encoder(ws, space, "all-MiniLM-L6-v2") is not None


def test_cpu_inference_uses_the_cores_other_processes_leave_idle(monkeypatch):
    import os

    from lmsys_tui.engine.embedding import embedders

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    for others, threads in ((0, 4), (1, 3), (3, 1), (9, 1)):
        monkeypatch.setattr(embedders, "_other_runnable", lambda others=others: others)
        assert embedders.cpu_threads() == threads
    monkeypatch.setattr(embedders, "_other_runnable", lambda: None)  # no /proc/stat
    assert embedders.cpu_threads() == 4
    assert embedders._other_runnable.__name__  # the real reader, below, on this machine


def test_the_runnable_count_is_read_from_the_kernel():
    from lmsys_tui.engine.embedding.embedders import _other_runnable

    found = _other_runnable(samples=2)
    assert found is None or found >= 0


def test_the_gpu_pipeline_gives_encodes_vectors_in_the_texts_order(tiny_bert, caplog):
    """The CUDA path (tokenize the next batch while the model runs this one) checked on
    the CPU against sentence-transformers' own encode: same vectors, same order, and no
    deprecation warning from sentence-transformers in the job's output."""
    from sentence_transformers import SentenceTransformer

    from lmsys_tui.engine.embedding.embedders import encode_pipelined

    encoder = SentenceTransformer(str(tiny_bert), device="cpu")
    texts = [f"prompt {i} " + "word " * (i * 7 % 23) for i in range(37)]
    expected = encoder.encode(texts, batch_size=5, normalize_embeddings=True)
    found = encode_pipelined(encoder, texts, batch_size=5)
    assert found.shape == expected.shape
    assert np.min(np.sum(found * expected, axis=1)) > 0.99999
    assert encode_pipelined(encoder, [], batch_size=5).shape == (0, 32)
    assert not [r for r in caplog.records if "deprecated" in r.getMessage()]


def test_cpu_batches_of_a_token_budget_give_encodes_vectors_in_the_texts_order(tiny_bert):
    """Many short texts share a batch, a long one goes alone; the vectors (texts tokenized
    once, each batch cut to its own padding) are encode's."""
    from sentence_transformers import SentenceTransformer

    from lmsys_tui.engine.embedding.embedders import SentenceTransformerEmbedder, token_batches

    texts = [f"prompt {i} " + "word " * (i * 7 % 23) for i in range(37)] + ["long " * 1000]
    encoder = SentenceTransformer(str(tiny_bert), device="cpu")
    # Tokens the model reads of each text (the long one truncated), as the embedder counts.
    tokens = encoder.tokenizer(texts, truncation=True, max_length=encoder.max_seq_length)
    tokens = np.array([len(ids) for ids in tokens["input_ids"]])
    assert tokens[-1] == encoder.max_seq_length
    batches = token_batches(tokens, budget=64)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(texts)))
    assert batches[0].tolist() == [len(texts) - 1]  # the longest first, alone
    assert all(len(batch) * tokens[batch].max() <= 64 for batch in batches[1:])
    assert len(batches[-1]) > 1  # short texts share a batch

    embedder = SentenceTransformerEmbedder(str(tiny_bert), device="cpu", precision="fp32")
    found = embedder.embed(texts)
    expected = encoder.encode(texts, batch_size=5, normalize_embeddings=True)
    assert np.min(np.sum(found * expected, axis=1)) > 0.99999
    assert embedder.embed([]).shape == (0, 32)
