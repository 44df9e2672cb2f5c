"""LLM summaries through litellm against a scripted local OpenAI-compatible server."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest

from lmsys_tui.engine.clustering.runs import cluster_space
from lmsys_tui.engine.embedding.embed import embed_queries
from lmsys_tui.engine.errors import SummaryError
from lmsys_tui.engine.llm.client import parse_reply
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.naming.llm_labels import ClusterSummary
from lmsys_tui.engine.naming.summarize import summarize_run
from lmsys_tui.engine.specs import ClusterStep, EmbedStep, LoadStep, SummarizeStep
from lmsys_tui.engine.workspace import open_workspace
from lmsys_tui.job_summary import _usage_text
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
            # Group texts go to their group's direction; other text (key phrases) elsewhere.
            digest = int(hashlib.md5(text.encode()).hexdigest()[:8], 16)
            group = next((i for i, word in enumerate(GROUPS) if word in text), 7 + digest % 9)
            noise = np.random.default_rng(int(hashlib.md5(text.encode()).hexdigest()[:8], 16))
            rows.append(np.eye(16)[group] + noise.normal(scale=0.01, size=16))
        matrix = np.array(rows, dtype=np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.fixture
def grouped(tmp_path, monkeypatch):
    from lmsys_tui.engine.embedding import embed

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    # Offline names rank phrases with the space's model: this one, not a hub download.
    monkeypatch.setitem(
        embed._SHARED_EMBEDDERS, ("sentence-transformers", "group-test"), GroupEmbedder()
    )
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
    from lmsys_tui.engine.llm.client import fill_template

    filled = fill_template("A {queries} B {contrast}", queries="say {contrast}!", contrast="C")
    assert filled == "A say {contrast}! B C"


def test_slow_replies_time_out_and_retries_are_bounded(monkeypatch):
    import asyncio

    from lmsys_tui.engine.llm.client import LLMCallError, LLMClient

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


@pytest.mark.parametrize("flavor", ["llamacpp", "vllm", "ollama"])
def test_local_servers_name_every_cluster(grouped, flavor):
    root, run_id = grouped
    with ScriptedLLM(flavor=flavor) as llm, open_workspace(root) as ws:
        llm.fixed.add("ALWAYSBAD")
        step = SummarizeStep(model="openai/local-model", api_base=llm.api_base)
        result = summarize_run(ws, step, run_id)
        status = ws.con.execute(
            "SELECT status FROM summary_runs WHERE summary_run_id = ?", [result.summary_run_id]
        ).fetchall()[0][0]
    assert (result.summarized, result.failed, status) == (len(GROUPS), 0, "complete")
    # litellm has no price for a local model: its cost is unknown, not $0.
    usage = result.usage
    assert 0 < usage["unpriced"] <= usage["requests"] and usage["cost"] == 0
    assert _usage_text(usage).endswith(" tokens, no price known")
    assert llm.most_in_flight == 1  # a server on this machine gets one request at a time
    assert all(body["max_tokens"] == 400 for body in llm.bodies)
    formats = llm.response_formats
    if flavor == "llamacpp":  # refused json_schema once (HTTP 500), then json_object only
        assert formats[0] == "json_schema" and set(formats[1:]) == {"json_object"}
        assert not any("schema" in (b.get("response_format") or {}) for b in llm.bodies)
    else:
        assert set(formats) == {"json_schema"}


def test_what_a_server_accepts_is_remembered_for_the_next_pass(grouped):
    root, run_id = grouped
    with ScriptedLLM(flavor="llamacpp") as llm, open_workspace(root) as ws:
        step = SummarizeStep(model="openai/remembered", api_base=llm.api_base)
        summarize_run(ws, step.model_copy(update={"alias": "one"}), run_id)
        llm.response_formats.clear()
        ws.con.execute("DELETE FROM llm_cache")
        summarize_run(ws, step.model_copy(update={"alias": "two"}), run_id)
    assert "json_schema" not in llm.response_formats


def test_a_pass_where_every_request_failed_fails_with_the_cause(grouped, monkeypatch):
    from lmsys_tui.engine.errors import SummaryError
    from lmsys_tui.engine.llm import client
    from lmsys_tui.engine.naming.summarize import latest_summary_run_id
    from lmsys_tui.engine.verify import verify_run

    root, run_id = grouped
    monkeypatch.setattr(client.random, "uniform", lambda low, high: 0.001)  # near-zero backoff
    with open_workspace(root) as ws:
        summarize_run(ws, SummarizeStep(alias="offline"), run_id)
        nobody = SummarizeStep(
            model="openai/x", api_base="http://127.0.0.1:9/v1", timeout=2, alias="down"
        )
        with pytest.raises(SummaryError) as caught:
            summarize_run(ws, nobody, run_id)
        statuses = dict(ws.con.execute("SELECT alias, status FROM summary_runs").fetchall())
        default = latest_summary_run_id(ws, run_id)
        default_alias = ws.con.execute(
            "SELECT alias FROM summary_runs WHERE summary_run_id = ?", [default]
        ).fetchall()[0][0]
        checked = [check.name for check in verify_run(ws, run_id).checks]
        down = ws.con.execute(
            "SELECT summary_run_id FROM summary_runs WHERE alias = 'down'"
        ).fetchall()[0][0]
    message = str(caught.value)
    assert f"all {len(GROUPS)} clusters failed" in message and "cannot reach" in message
    assert statuses["down"] == "partial" and default_alias == "offline"
    # The pass named nothing: verify does not ask for its index (the offline pass's, yes).
    summary_checks = [name for name in checked if name.startswith("summary index")]
    assert len(summary_checks) == 1 and down not in summary_checks[0]


def test_a_partial_pass_is_stored_as_partial_and_completed_by_the_next(grouped):
    root, run_id = grouped
    with ScriptedLLM() as llm, open_workspace(root) as ws:
        step = SummarizeStep(model="openai/scripted", api_base=llm.api_base, alias="p")
        first = summarize_run(ws, step, run_id)
        before = ws.con.execute("SELECT status FROM summary_runs").fetchall()
        llm.fixed.add("ALWAYSBAD")
        second = summarize_run(ws, step, run_id)
        after = ws.con.execute("SELECT status FROM summary_runs").fetchall()
    assert first.failed == 1 and before == [("partial",)]
    assert second.summary_run_id == first.summary_run_id and after == [("complete",)]


def test_a_hierarchy_is_rebuilt_when_its_summaries_are_repaired(grouped):
    from lmsys_tui.engine.hierarchy.build import build_hierarchy
    from lmsys_tui.engine.specs import HierarchyStep

    root, run_id = grouped
    with ScriptedLLM() as llm, open_workspace(root) as ws:
        step = SummarizeStep(model="openai/scripted", api_base=llm.api_base)
        summary = summarize_run(ws, step, run_id)
        tree = HierarchyStep(levels=1, top_size=3)
        stale = build_hierarchy(ws, tree, run_id, summary.summary_run_id)
        llm.fixed.add("ALWAYSBAD")
        summarize_run(ws, step, run_id)
        fresh = build_hierarchy(ws, tree, run_id, summary.summary_run_id)
        leaves = [
            t
            for (t,) in ws.con.execute(
                "SELECT title FROM hierarchy_nodes WHERE hierarchy_run_id = ? AND level = 0",
                [fresh.hierarchy_run_id],
            ).fetchall()
        ]
    assert not fresh.reused and fresh.hierarchy_run_id != stale.hierarchy_run_id
    assert "Prompts about alwaysbad" in leaves and not any(t.startswith("cluster ") for t in leaves)


def test_errors_keep_their_cause_and_repair_turns_stay_short(grouped):
    import litellm

    from lmsys_tui.engine.llm.client import describe_error

    error = litellm.InternalServerError(
        message="OpenAIException - 1 validation error:\nresponse_format.type\n"
        "  Input should be 'text' or 'json_object'",
        llm_provider="openai",
        model="smollm2",
    )
    described = describe_error(error)
    assert "Input should be 'text' or 'json_object'" in described and "\n" not in described
    root, run_id = grouped
    with ScriptedLLM() as llm, open_workspace(root) as ws:
        ws.con.execute(
            "UPDATE queries SET query_text = 'LONGBAD ' || query_text "
            "WHERE query_text LIKE 'apples%'"
        )
        summarize_run(ws, SummarizeStep(model="openai/scripted", api_base=llm.api_base), run_id)
    repairs = [
        b["messages"] for b in llm.bodies if any(m["role"] == "assistant" for m in b["messages"])
    ]
    echoed = [m["content"] for messages in repairs for m in messages if m["role"] == "assistant"]
    assert echoed and all(len(text) <= 610 for text in echoed)  # not the 5,000-char ramble


def test_plain_title_and_description_lines_are_read():
    summary = parse_reply(
        "**Title:** Prompts about soup\nDescription: Recipes for soup.\nTags: soup, food",
        ClusterSummary,
    )
    assert (summary.title, summary.description, summary.tags) == (
        "Prompts about soup",
        "Recipes for soup.",
        ["soup", "food"],
    )


def test_local_servers_default_to_one_request_at_a_time_and_prompts_fit_the_context():
    from lmsys_tui.engine.naming.llm_labels import fit_prompt
    from lmsys_tui.engine.specs import request_concurrency

    assert request_concurrency(None, "http://127.0.0.1:8080/v1") == 1
    assert request_concurrency(None, "http://localhost:11434/v1") == 1
    assert request_concurrency(None, None) == 8
    assert request_concurrency(4, "http://127.0.0.1:8080/v1") == 4
    long = ["word " * 2000] * 10
    prompt = fit_prompt("{queries} | {contrast}", long, long, budget=500)
    assert len(prompt) / 3 <= 500 and "word" in prompt
    roomy = fit_prompt("{queries} | {contrast}", ["short one"], ["other"], budget=500)
    assert roomy == "1. short one | 1. other"


def test_an_unreachable_llm_hierarchy_names_the_cause(grouped, monkeypatch):
    from lmsys_tui.engine.errors import SummaryError
    from lmsys_tui.engine.hierarchy.build import build_hierarchy
    from lmsys_tui.engine.llm import client
    from lmsys_tui.engine.specs import HierarchyStep

    monkeypatch.setattr(client.random, "uniform", lambda low, high: 0.001)  # near-zero backoff
    root, run_id = grouped
    with open_workspace(root) as ws:
        summary = summarize_run(ws, SummarizeStep(alias="offline"), run_id)
        step = HierarchyStep(
            model="openai/x", api_base="http://127.0.0.1:9/v1", levels=1, top_size=3, timeout=2
        )
        with pytest.raises(SummaryError, match="no usable category: cannot reach"):
            build_hierarchy(ws, step, run_id, summary.summary_run_id)


def test_small_model_replies_are_read_generously_but_the_example_is_refused():
    from pydantic import ValidationError

    joined = parse_reply(
        '{"title": "Soup", "description": ["Recipes.", "For soup."]}', ClusterSummary
    )
    assert joined.description == "Recipes. For soup."
    with pytest.raises(ValidationError, match="copies the example"):
        parse_reply(
            '{"title": "Fixing pandas error while cleaning CSV data", "description": "x"}',
            ClusterSummary,
        )


def test_a_plan_comes_first_and_the_cost_cap_stops_a_pass_keeping_what_is_named(grouped):
    """gpt-4o-mini's prices from litellm's map, served by the scripted server."""
    from lmsys_tui.engine.browse import list_runs
    from lmsys_tui.engine.llm.costs import plan_summaries

    root, run_id = grouped
    with ScriptedLLM() as llm, open_workspace(root) as ws:
        llm.fixed.add("ALWAYSBAD")
        step = SummarizeStep(model="openai/gpt-4o-mini", api_base=llm.api_base, concurrency=1)
        plan = plan_summaries(ws, step, run_id)
        assert (plan.items, plan.requests) == (len(GROUPS), len(GROUPS))
        assert plan.prompt_tokens > 0 and plan.cost > 0 and plan.max_cost > plan.cost
        assert "tokenizer" in plan.counted_by
        with pytest.raises(SummaryError, match="below one request"):
            summarize_run(ws, step.model_copy(update={"max_cost": 1e-7}), run_id)
        assert ws.count("summary_runs") == 0  # refused before anything was written
        per_request = plan.cost_per_request
        messages = []
        capped = step.model_copy(update={"max_cost": per_request * 2.5})
        first = summarize_run(ws, capped, run_id, lambda e: messages.append(e.message))
        assert any(m.startswith(f"plan: {len(GROUPS)} clusters") for m in messages if m)
        not_asked = [f for f in first.failures if "cost cap" in f]
        assert not_asked and len(not_asked) == first.failed, first.failures
        assert 1 <= first.summarized < len(GROUPS)
        second = summarize_run(ws, step, run_id)  # no cap: the rest, and only the rest
        assert (second.summarized, second.already_done) == (len(not_asked), first.summarized)
        (run,) = list_runs(ws.con)
        (ledger,) = [s.usage for s in run.summary_runs]  # both passes, added up
        assert ledger["requests"] == first.usage["requests"] + second.usage["requests"]
        assert ledger["unpriced"] == 0 and ledger["cost"] > 0  # a model litellm prices
        assert _usage_text(ledger).endswith(f"${ledger['cost']:.4f}")


def test_a_server_on_this_machine_needs_no_key_in_the_environment(grouped, monkeypatch):
    root, run_id = grouped
    monkeypatch.delenv("OPENAI_API_KEY")
    with ScriptedLLM(flavor="vllm") as llm, open_workspace(root) as ws:
        llm.fixed.add("ALWAYSBAD")
        step = SummarizeStep(model="openai/local-model", api_base=llm.api_base)
        result = summarize_run(ws, step, run_id)
    assert (result.summarized, result.failed) == (len(GROUPS), 0)
    assert llm.authorizations == {"Bearer no-key-needed"}  # a placeholder, never a real key


def test_a_refused_key_stops_the_pass_after_one_request(grouped):
    root, run_id = grouped
    with ScriptedLLM(required_key="sk-the-right-one") as llm, open_workspace(root) as ws:
        step = SummarizeStep(model="openai/scripted", api_base=llm.api_base)
        with pytest.raises(SummaryError, match="refused access.*Incorrect API key"):
            summarize_run(ws, step, run_id)
    assert len(llm.bodies) == 1  # not once per cluster, and not retried


def test_a_job_without_its_llm_key_fails_before_any_step_runs(tmp_path, monkeypatch):
    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.specs import JobSpec

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    rows = [{"conversation_id": "1", "conversation": [{"role": "user", "content": "hi"}]}]
    spec = JobSpec(
        load=LoadStep(source=str(write_jsonl(tmp_path / "one.jsonl", rows))),
        summarize=SummarizeStep(model="openai/gpt-4o-mini"),
    )
    with open_workspace(tmp_path / "ws") as ws:
        with pytest.raises(SummaryError, match="needs OPENAI_API_KEY set in the environment"):
            run_job(ws, spec)
        loaded = ws.con.execute("SELECT count(*) FROM queries").fetchall()[0][0]
        job = ws.con.execute("SELECT status, error FROM jobs").fetchall()[0]
    assert loaded == 0 and job[0] == "failed" and "OPENAI_API_KEY" in job[1]


def test_a_rerun_needs_no_key_when_its_names_are_made_but_a_new_pass_does(grouped, monkeypatch):
    import json

    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.naming.summarize import _parameters
    from lmsys_tui.engine.specs import JobSpec

    root, run_id = grouped
    monkeypatch.delenv("OPENAI_API_KEY")
    step = SummarizeStep(model="openai/gpt-4o-mini", run_id=run_id)
    with open_workspace(root) as ws:  # a pass made earlier, with the key
        ws.con.execute(
            "INSERT INTO summary_runs VALUES ('summary-earlier', ?, NULL, ?, ?::JSON, "
            "'complete', now()::TIMESTAMP, now()::TIMESTAMP, NULL)",
            [run_id, step.model, json.dumps(_parameters(step), sort_keys=True)],
        )
        ws.con.execute(
            "INSERT INTO cluster_summaries SELECT 'summary-earlier', cluster_id, 'Named', "
            "'Before.', [], [], NULL, now()::TIMESTAMP FROM clusters WHERE run_id = ?",
            [run_id],
        )
        again = run_job(ws, JobSpec(summarize=step))
        assert again["summarize"]["reused"]
        another = step.model_copy(update={"alias": "another"})
        with pytest.raises(SummaryError, match="needs OPENAI_API_KEY"):
            run_job(ws, JobSpec(summarize=another))
        passes = ws.con.execute("SELECT count(*) FROM summary_runs").fetchall()[0][0]
    assert passes == 1  # the refused pass left no row behind
