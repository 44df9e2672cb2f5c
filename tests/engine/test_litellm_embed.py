"""API embeddings through litellm, against a local OpenAI-compatible server (no network)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from lmsys_tui.engine.embedding.embed import embed_queries, load_space_vectors
from lmsys_tui.engine.errors import EmbedError
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.specs import EmbedStep, LoadStep


def vector_for(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [float(b) + 1.0 for b in digest[:8]]


class EmbeddingServer(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        EmbeddingServer.requests.append(
            {"path": self.path, "auth": self.headers["Authorization"], "input": body["input"]}
        )
        if body["model"] == "broken":
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "model broken does not exist"}}')
            return
        data = [
            {"object": "embedding", "index": i, "embedding": vector_for(text)}
            for i, text in enumerate(body["input"])
        ]
        reply = json.dumps(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def api_base(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    server = ThreadingHTTPServer(("127.0.0.1", 0), EmbeddingServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    EmbeddingServer.requests = []
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_litellm_embeddings_are_stored_normalised_in_their_own_space(
    workspace, lmsys_file, api_base
):
    load(workspace, LoadStep(source=str(lmsys_file), limit=6))
    step = EmbedStep(provider="litellm", model="openai/test-embed", api_base=api_base)
    result = embed_queries(workspace, step)
    assert (result.space_id, result.dim, result.embedded) == ("litellm-openai-test-embed", 8, 6)
    ids, vectors = load_space_vectors(workspace, result.space_id)
    texts = dict(workspace.con.execute("SELECT query_id, query_text FROM queries").fetchall())
    expected = np.array([vector_for(texts[i]) for i in ids], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, atol=2e-3)
    assert all(r["path"] == "/v1/embeddings" for r in EmbeddingServer.requests)
    stored = workspace.con.execute("SELECT * FROM embedding_spaces").fetchall()
    assert "sk-test" not in repr(stored)  # the key never reaches the workspace


def test_a_failing_api_is_a_one_line_error_without_the_key(workspace, lmsys_file, api_base):
    load(workspace, LoadStep(source=str(lmsys_file), limit=2))
    step = EmbedStep(provider="litellm", model="openai/broken", api_base=api_base)
    with pytest.raises(EmbedError) as caught:
        embed_queries(workspace, step)
    assert "\n" not in str(caught.value) and "sk-test" not in str(caught.value)
    assert workspace.count("embeddings") == 0


def test_a_server_on_this_machine_embeds_without_a_key(
    workspace, lmsys_file, api_base, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_KEY")
    load(workspace, LoadStep(source=str(lmsys_file), limit=3))
    step = EmbedStep(provider="litellm", model="openai/test-embed", api_base=api_base)
    assert embed_queries(workspace, step).embedded == 3
    assert {r["auth"] for r in EmbeddingServer.requests} == {"Bearer no-key-needed"}
