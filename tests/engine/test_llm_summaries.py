"""LLM summaries through litellm against a scripted local OpenAI-compatible server."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest

from lmsys_tui.engine.cluster import cluster_space
from lmsys_tui.engine.embed import embed_queries
from lmsys_tui.engine.ingest import load
from lmsys_tui.engine.llm import parse_reply
from lmsys_tui.engine.llm_labels import ClusterSummary
from lmsys_tui.engine.specs import ClusterStep, EmbedStep, LoadStep, SummarizeStep
from lmsys_tui.engine.summarize import summarize_run
from lmsys_tui.engine.workspace import open_workspace
from tests.conftest import write_jsonl
from tests.llm_server import INJECTED_TITLE, ScriptedLLM

GROUPS = ["apples", "oranges", "MALFORMED", "RATE", "FAIL500", "ALWAYSBAD", "INJECT"]
SECRET = "sk-secret-test-key-12345"


class GroupEmbedder:
    """One direction per group word, so k-means puts each group in its own cluster."""

    provider = "sentence-transformers"
    model = "group-test"

    def dimension(self) -> int:
        return 16

    def embed(self, texts):
        rows = []
        for text in texts:
            group = next(i for i, word in enumerate(GROUPS) if word in text)
            noise = np.random.default_rng(int(hashlib.md5(text.encode()).hexdigest()[:8], 16))
            rows.append(np.eye(16)[group] + noise.normal(scale=0.01, size=16))
        matrix = np.array(rows, dtype=np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.fixture
def grouped(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    rows = [
        {
            "conversation_id": f"{word}-{i}",
            "conversation": [{"role": "user", "content": f"{word} question {i} about widgets"}],
        }
        for word in GROUPS
        for i in range(4)
    ]
    root = tmp_path / "ws"
    with open_workspace(root) as ws:
        load(ws, LoadStep(source=str(write_jsonl(tmp_path / "g.jsonl", rows))))
        space = embed_queries(ws, EmbedStep(model="group-test"), embedder=GroupEmbedder()).space_id
        run = cluster_space(ws, ClusterStep(n_clusters=len(GROUPS), run_id="groups"), space)
    return root, run.run_id


def summaries(ws, summary_run_id):
    rows = ws.con.execute(
        "SELECT s.cluster_id, s.title, s.description, s.keywords, s.error, "
        "any_value(split_part(q.query_text, ' ', 1)) FROM cluster_summaries s "
        "JOIN query_clusters c ON c.run_id = 'groups' AND c.cluster_id = s.cluster_id "
        "JOIN queries q USING (query_id) WHERE s.summary_run_id = ? GROUP BY ALL",
        [summary_run_id],
    ).fetchall()
    return {row[5]: row[:5] for row in rows}


def test_llm_pass_saves_summaries_retries_and_isolates_failures(grouped):
    root, run_id = grouped
    step = SummarizeStep(model="openai/scripted", alias="llm", concurrency=4)
    with ScriptedLLM() as llm, open_workspace(root) as ws:
        step = step.model_copy(update={"api_base": llm.api_base})
        started = time.monotonic()
        result = summarize_run(ws, step, run_id)
        elapsed = time.monotonic() - started
        saved = summaries(ws, result.summary_run_id)
        database_bytes = (root / "lmsys.duckdb").read_bytes()
    assert (result.summarized, result.failed) == (6, 1)
    assert result.failures[0].startswith("cluster ") and "invalid reply" in result.failures[0]
    assert saved["apples"][1] == "Prompts about ok" and saved["apples"][3] == ["ok"]
    assert saved["MALFORMED"][1] == "Prompts about malformed"  # repaired after one bad reply
    assert saved["RATE"][1] == "Prompts about rate" and elapsed >= 1.0  # Retry-After honoured
    assert saved["FAIL500"][1] == "Prompts about fail500"
    assert saved["ALWAYSBAD"][1] is None and "invalid reply" in saved["ALWAYSBAD"][4]
    # Hostile text is stored as plain text: markup kept literally, control characters gone.
    assert saved["INJECT"][1] == INJECTED_TITLE.replace("\x1b", " ").replace("  ", " ")
    assert llm.calls["ALWAYSBAD"] == 2  # one reply and one repair, then it gives up
    assert llm.calls["RATE"] == 2 and llm.calls["FAIL500"] == 2
    assert f"Bearer {SECRET}" in llm.authorizations  # the key came from the environment...
    assert SECRET.encode() not in database_bytes  # ...and never reached the workspace
    assert all(SECRET not in failure for failure in result.failures)
    assert result.usage["prompt_tokens"] >= 100 * 7 and result.usage["retries"] == 2


def test_a_rerun_only_asks_for_missing_or_failed_clusters(grouped):
    root, run_id = grouped
    with ScriptedLLM() as llm, open_workspace(root) as ws:
        step = SummarizeStep(model="openai/scripted", api_base=llm.api_base)
        first = summarize_run(ws, step, run_id)
        llm.fixed.add("ALWAYSBAD")
        llm.calls.clear()
        second = summarize_run(ws, step, run_id)
        third = summarize_run(ws, step, run_id)
        saved = summaries(ws, first.summary_run_id)
    assert second.summary_run_id == first.summary_run_id
    assert (second.summarized, second.already_done) == (1, 6)
    assert dict(llm.calls) == {"ALWAYSBAD": 1}
    assert saved["ALWAYSBAD"][1] == "Prompts about alwaysbad" and saved["ALWAYSBAD"][4] is None
    assert third.reused


def test_servers_that_refuse_json_schema_get_json_object(grouped):
    root, run_id = grouped
    with ScriptedLLM(refuse_json_schema=True) as llm, open_workspace(root) as ws:
        step = SummarizeStep(model="openai/scripted", api_base=llm.api_base, concurrency=1)
        result = summarize_run(ws, step, run_id)
    assert result.summarized == 6
    assert llm.response_formats[0] == "json_schema"
    assert set(llm.response_formats[1:]) == {"json_object"}


def test_replies_in_code_fences_with_extra_keys_validate():
    reply = 'Here you go:\n```json\n{"title": "T", "description": "D", "extra": 1}\n```'
    summary = parse_reply(reply, ClusterSummary)
    assert (summary.title, summary.description, summary.tags) == ("T", "D", [])
    with pytest.raises(ValueError):
        parse_reply("no json here", ClusterSummary)


def test_placeholders_inside_user_text_stay_text():
    from lmsys_tui.engine.llm import fill_template

    filled = fill_template("A {queries} B {contrast}", queries="say {contrast}!", contrast="C")
    assert filled == "A say {contrast}! B C"


def test_slow_replies_time_out_and_retries_are_bounded(monkeypatch):
    import asyncio

    from lmsys_tui.engine.llm import LLMCallError, LLMClient

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with ScriptedLLM() as llm:
        client = LLMClient(
            "openai/scripted", llm.api_base, timeout=0.2, max_retries=2, base_delay=0.01
        )
        started = time.monotonic()
        with pytest.raises(LLMCallError) as caught:
            asyncio.run(
                client.structured("<cluster_prompts>SLOW</cluster_prompts>", ClusterSummary)
            )
        elapsed = time.monotonic() - started
    assert llm.calls["SLOW"] == 3  # the first try and two retries, then it stops
    assert client.stats.retries == 2 and elapsed < 5
    assert "\n" not in str(caught.value) and SECRET not in str(caught.value)


def test_validated_replies_are_cached_and_failed_ones_asked_again(grouped):
    root, run_id = grouped
    with ScriptedLLM() as llm, open_workspace(root) as ws:
        first = summarize_run(
            ws, SummarizeStep(model="openai/scripted", api_base=llm.api_base, alias="a"), run_id
        )
        llm.calls.clear()
        second = summarize_run(
            ws, SummarizeStep(model="openai/scripted", api_base=llm.api_base, alias="b"), run_id
        )
        cached = ws.con.execute("SELECT count(*) FROM llm_cache").fetchall()[0][0]
    assert second.summary_run_id != first.summary_run_id
    assert second.usage["cache_hits"] == 6 and dict(llm.calls) == {"ALWAYSBAD": 2}
    assert (second.summarized, second.failed) == (6, 1) and cached == 6
