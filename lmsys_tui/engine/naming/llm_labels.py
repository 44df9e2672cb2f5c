"""Cluster titles and descriptions from an LLM, each saved as soon as it arrives."""

from __future__ import annotations

import asyncio
import difflib
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..clustering.representatives import representatives
from ..errors import SummaryError
from ..llm.client import LLMCallError, LLMClient, ReplyCache, clean, fill_template, import_litellm
from ..progress import Progress, ProgressSink
from ..specs import SummarizeStep, request_concurrency
from ..workspace import Workspace

CONTRAST_CLUSTERS = 2
CONTRAST_QUERIES = 3
QUERY_CHARS = (400, 250, 150, 80)  # per prompt, shortened until the prompt fits
DEFAULT_CONTEXT = 4096
CHARS_PER_TOKEN = 3.0  # a cautious estimate: code and non-English text run below 4


# The worked example's title in the packaged prompt: small models copy it.
EXAMPLE_TITLE = "Fixing pandas errors while cleaning CSV data"


class ClusterSummary(BaseModel):
    """What the LLM must return for one cluster (extra keys are ignored)."""

    model_config = ConfigDict(extra="ignore")
    title: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=1500)
    tags: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("title")
    @classmethod
    def _not_the_example(cls, title: str) -> str:
        similar = difflib.SequenceMatcher(None, title.lower(), EXAMPLE_TITLE.lower()).ratio()
        if similar >= 0.8:
            raise ValueError("the title copies the example; name these prompts instead")
        return title


def prompt_template(step: SummarizeStep) -> str:
    """The packaged template, or the user's `prompt_file`."""
    if step.prompt_file:
        try:
            return Path(step.prompt_file).expanduser().read_text(encoding="utf-8")
        except OSError as error:
            raise SummaryError(f"cannot read prompt_file {step.prompt_file}: {error}") from None
    return (
        resources.files("lmsys_tui.prompts")
        .joinpath("summarize_cluster.txt")
        .read_text(encoding="utf-8")
    )


def _listing(texts: list[str], chars: int = QUERY_CHARS[0]) -> str:
    lines = []
    for number, text in enumerate(texts, start=1):
        flat = " ".join(text.split())
        lines.append(f"{number}. {flat[:chars]}{'…' if len(flat) > chars else ''}")
    return "\n".join(lines) or "(none)"


def context_tokens(step: SummarizeStep) -> int:
    """The model's context: as set, else litellm's figure for known models, else 4096
    (a small local model's usual size)."""
    if step.context_tokens:
        return step.context_tokens
    litellm = import_litellm()
    try:
        info = litellm.get_model_info(step.model)
    except Exception:  # unknown to litellm: local servers, custom names
        return DEFAULT_CONTEXT
    return int(info.get("max_input_tokens") or DEFAULT_CONTEXT)


def fit_prompt(template: str, own: list[str], contrast: list[str], budget: int) -> str:
    """The filled template within `budget` tokens (estimated): prompts cut shorter, then
    the contrasting clusters left out, then the cluster's own prompts fewer."""
    attempts = [(chars, contrast) for chars in QUERY_CHARS] + [(QUERY_CHARS[-1], [])]
    for chars, others in attempts:
        prompt = fill_template(template, queries=_listing(own, chars), contrast=_listing(others))
        if len(prompt) / CHARS_PER_TOKEN <= budget:
            return prompt
    while len(own) > 1:
        own = own[:-1]
        prompt = fill_template(
            template, queries=_listing(own, QUERY_CHARS[-1]), contrast=_listing([])
        )
        if len(prompt) / CHARS_PER_TOKEN <= budget:
            break
    return prompt


def nearest_clusters(ws: Workspace, run_id: str) -> dict[int, list[int]]:
    """The CONTRAST_CLUSTERS most similar other clusters of each cluster, by centroid."""
    rows = ws.con.execute(
        "SELECT cluster_id, centroid FROM clusters WHERE run_id = ? AND cluster_id >= 0 "
        "ORDER BY cluster_id",
        [run_id],
    ).fetchall()
    ids = [r[0] for r in rows]
    if len(ids) < 2:
        return {i: [] for i in ids}
    centroids = np.array([r[1] for r in rows], dtype=np.float32)
    similarity = centroids @ centroids.T
    np.fill_diagonal(similarity, -np.inf)
    order = np.argsort(-similarity, axis=1)[:, :CONTRAST_CLUSTERS]
    return {ids[i]: [ids[j] for j in order[i]] for i in range(len(ids))}


def cluster_prompts(ws: Workspace, step: SummarizeStep, run_id: str, space_id: str):
    """(prompt_for(cluster_id) -> the prompt sent for it, representatives by cluster)."""
    chosen = representatives(ws, run_id, space_id, step.max_queries, step.seed)
    wanted = {q for ids in chosen.values() for q in ids}
    texts = dict(
        ws.con.execute(
            "SELECT query_id, query_text FROM queries WHERE query_id IN "
            "(SELECT unnest(?::BIGINT[]))",
            [sorted(wanted)],
        ).fetchall()
    )
    neighbours = nearest_clusters(ws, run_id)
    template = prompt_template(step)
    budget = context_tokens(step) - step.max_tokens - 64  # 64: chat formatting

    def prompt_for(cluster_id: int) -> str:
        own = [texts[q] for q in chosen.get(cluster_id, [])]
        contrast = [
            texts[q]
            for other in neighbours.get(cluster_id, [])
            for q in chosen.get(other, [])[:CONTRAST_QUERIES]
        ]
        return fit_prompt(template, own, contrast, budget)

    return prompt_for, chosen


def llm_labels(
    ws: Workspace,
    step: SummarizeStep,
    run_id: str,
    space_id: str,
    missing: list[int],
    save,
    progress: ProgressSink,
    cost_per_request: float | None = None,
    prompts=None,
) -> tuple[int, list[str], dict]:
    """Summarize `missing` clusters; `save(row)` is called per cluster as it completes.

    Returns (succeeded, failure messages, usage totals).
    """
    prompt_for, chosen = prompts or cluster_prompts(ws, step, run_id, space_id)
    concurrency = request_concurrency(step.concurrency, step.api_base)
    if step.concurrency is None and concurrency == 1:
        progress(
            Progress(
                "summarize",
                0,
                len(missing),
                f"one request at a time to {step.api_base} (a server on this machine; "
                "set concurrency for more)",
            )
        )
    client = LLMClient(
        step.model,
        step.api_base,
        concurrency,
        step.rpm,
        timeout=step.timeout,
        cache=ReplyCache(ws.con),
        max_tokens=step.max_tokens,
        max_cost=step.max_cost,
        cost_per_request=cost_per_request,
    )
    failures: list[str] = []
    done = 0

    async def one(cluster_id: int) -> None:
        nonlocal done
        try:
            summary = await client.structured(prompt_for(cluster_id), ClusterSummary)
        except LLMCallError as error:
            failures.append(f"cluster {cluster_id}: {error}")
            save((cluster_id, None, None, [], chosen.get(cluster_id, []), str(error)))
        else:
            tags = [clean(tag)[:40] for tag in summary.tags if clean(tag)]
            save(
                (
                    cluster_id,
                    clean(summary.title)[:80],
                    clean(summary.description),
                    tags,
                    chosen.get(cluster_id, []),
                    None,
                )
            )
        done += 1
        progress(Progress("summarize", done, len(missing)))

    async def all_clusters() -> None:
        await asyncio.gather(*(one(c) for c in missing))

    asyncio.run(all_clusters())
    stats = client.stats
    usage = {
        "requests": stats.requests,
        "retries": stats.retries,
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.completion_tokens,
        "cost": round(stats.cost, 6),
        "cache_hits": stats.cache_hits,
        "unpriced": stats.unpriced,
    }
    if client.capped:
        progress(
            Progress(
                "summarize",
                done,
                len(missing),
                f"stopped at the cost cap ${step.max_cost:.2f}: "
                f"{sum(1 for f in failures if 'cost cap' in f):,} clusters not asked",
            )
        )
    return len(missing) - len(failures), failures, usage
