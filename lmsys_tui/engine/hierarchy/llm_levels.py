"""Clio-style hierarchy levels named by an LLM (arXiv 2412.13678, appendix G).

Per level: neighbourhoods by k-means over embeddings of the nodes' summaries (title and
description, in the run's embedding space); the LLM proposes parent
categories per neighbourhood (with the nearest nodes outside it for contrast); the
candidates are deduplicated globally to the level's target count; every child is
assigned by the LLM from a seeded shuffle of the candidates, answers mapped back by
closest title, with an explicit "Other" instead of a forced fit; parents are renamed
from their actual children.
"""

from __future__ import annotations

import asyncio
import difflib
import math
import random
from importlib import resources

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import SummaryError
from ..llm.client import LLMCallError, LLMClient, ReplyCache, clean, fill_template
from ..progress import Progress, ProgressSink
from ..specs import HierarchyStep, request_concurrency
from .build import Node, parent_node

NEIGHBOURHOOD_SIZE = 40
CONTRAST_NODES = 5
OTHER = "Other"


class Category(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: str = Field(min_length=1, max_length=120)
    description: str = ""


class Categories(BaseModel):
    model_config = ConfigDict(extra="ignore")
    categories: list[Category] = Field(min_length=1)


class Choice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    category: str


def _template(name: str) -> str:
    return (
        resources.files("lmsys_tui.prompts")
        .joinpath(f"hierarchy_{name}.txt")
        .read_text(encoding="utf-8")
    )


def _describe(nodes: list[Node]) -> str:
    return "\n".join(f"- {n.title}: {n.description[:300]}" for n in nodes) or "(none)"


def llm_level(
    below: list[Node],
    level: int,
    target: int,
    step: HierarchyStep,
    embedder,
    cache: ReplyCache | None,
    progress: ProgressSink,
    usage: dict | None = None,
) -> list[Node] | None:
    """The parents of `below` (noise excluded and kept as its own branch); None when the
    level would not be smaller. Requests, tokens and cost are added to `usage`."""
    noise = [n for n in below if n.is_noise]
    regular = [n for n in below if not n.is_noise]
    if len(regular) < 2 or target >= len(regular):
        return None
    try:
        vectors = embedder.embed([f"{n.title}. {n.description}" for n in regular])
        summary_vectors = {n.node_id: v for n, v in zip(regular, vectors, strict=True)}
        return asyncio.run(
            _level(regular, noise, level, target, step, summary_vectors, cache, progress, usage)
        )
    except LLMCallError as error:
        raise SummaryError(f"hierarchy level {level} with {step.model}: {error}") from None


async def _level(
    regular, noise, level, target, step: HierarchyStep, vectors: dict, cache, progress, usage
) -> list[Node]:
    client = LLMClient(
        step.model,
        step.api_base,
        request_concurrency(step.concurrency, step.api_base),
        step.rpm,
        timeout=step.timeout,
        cache=cache,
        max_tokens=step.max_tokens,
        # The cap covers the whole build: what earlier levels spent counts.
        max_cost=None if step.max_cost is None else step.max_cost - (usage or {}).get("cost", 0),
        cost_per_request=(usage or {}).get("cost_per_request"),
    )
    try:
        parents = await _build_level(regular, noise, level, target, step, vectors, progress, client)
    finally:
        if usage is not None:
            _add_usage(usage, client.stats)
    if client.capped:  # a level half asked would be a wrong level: keep the saved ones
        raise LLMCallError(
            f"stopped at the cost cap ${step.max_cost:.2f}; the levels before this one are "
            "kept: run again with a higher max_cost to continue"
        )
    return parents


def _add_usage(usage: dict, stats) -> None:
    counts = ("requests", "retries", "prompt_tokens", "completion_tokens", "cache_hits", "unpriced")
    for name in counts:
        usage[name] = usage.get(name, 0) + getattr(stats, name)
    usage["cost"] = round(usage.get("cost", 0.0) + stats.cost, 6)


async def _build_level(regular, noise, level, target, step, vectors, progress, client):
    seed = step.seed
    neighbourhoods = _neighbourhoods(regular, vectors, seed)
    progress(Progress(f"hierarchy level {level}", 0, 4, "proposing categories"))
    proposals = await asyncio.gather(
        *(_propose(group, regular, target, vectors, client) for group in neighbourhoods)
    )
    candidates = _unique([c for found in proposals for c in found])
    if not candidates:
        cause = f": {client.first_error}" if client.first_error else ""
        raise LLMCallError(f"level {level}: the LLM proposed no usable category{cause}")
    progress(Progress(f"hierarchy level {level}", 1, 4, f"{len(candidates)} candidates"))
    if len(candidates) > target:
        candidates = await _dedupe(candidates, target, client)
    progress(Progress(f"hierarchy level {level}", 2, 4, f"assigning {len(regular)} nodes"))
    titles = [c.title for c in candidates]
    rng = random.Random(seed + level)
    shuffles = [rng.sample(titles, len(titles)) for _ in regular]
    choices = await asyncio.gather(
        *(_assign(node, order, client) for node, order in zip(regular, shuffles, strict=True))
    )
    groups: dict[str, list[Node]] = {}
    for node, choice in zip(regular, choices, strict=True):
        groups.setdefault(_match(choice, titles), []).append(node)
    ordered = sorted(
        groups.items(), key=lambda kv: (kv[0] == OTHER, -sum(n.size for n in kv[1]), kv[0])
    )
    parents = [
        parent_node(f"L{level}-{i}", level, children) for i, (_, children) in enumerate(ordered)
    ]
    by_title = {c.title: c for c in candidates}
    progress(Progress(f"hierarchy level {level}", 3, 4, f"naming {len(parents)} parents"))
    names = await asyncio.gather(
        *(
            _rename(parent, by_title.get(title), children, client)
            for parent, (title, children) in zip(parents, ordered, strict=True)
        )
    )
    for parent, (title, description) in zip(parents, names, strict=True):
        parent.title, parent.description = title, description
    if noise:
        branch = parent_node(f"L{level}-noise", level, noise)
        branch.title = "noise: not clustered"
        parents.append(branch)
    return parents


def _neighbourhoods(nodes: list[Node], vectors: dict, seed: int) -> list[list[Node]]:
    count = max(1, math.ceil(len(nodes) / NEIGHBOURHOOD_SIZE))
    if count == 1:
        return [nodes]
    from ..clustering.algorithms import kmeans

    labels, _, _ = kmeans(np.stack([vectors[n.node_id] for n in nodes]), count, seed, 20, "cpu")
    return [[n for n, label in zip(nodes, labels, strict=True) if label == g] for g in range(count)]


def _contrast(group: list[Node], everyone: list[Node], vectors: dict) -> list[Node]:
    inside = {n.node_id for n in group}
    outside = [n for n in everyone if n.node_id not in inside]
    if not outside:
        return []
    centre = np.mean([vectors[n.node_id] for n in group], axis=0)
    similarity = np.stack([vectors[n.node_id] for n in outside]) @ centre
    return [outside[i] for i in np.argsort(-similarity)[:CONTRAST_NODES]]


async def _propose(group, everyone, target, vectors, client) -> list[Category]:
    wanted = max(1, math.ceil(target * len(group) / len(everyone) * 1.5))
    prompt = fill_template(
        _template("propose"),
        count=str(wanted),
        clusters=_describe(group),
        contrast=_describe(_contrast(group, everyone, vectors)),
    )
    try:
        return (await client.structured(prompt, Categories)).categories
    except LLMCallError as error:
        client.first_error = client.first_error or str(error)  # said if nothing is proposed
        return []  # other neighbourhoods' candidates still cover; children can go to Other


async def _dedupe(candidates: list[Category], target: int, client) -> list[Category]:
    listing = "\n".join(f"- {c.title}: {c.description}" for c in candidates)
    prompt = fill_template(_template("dedupe"), count=str(target), candidates=listing)
    try:
        merged = _unique((await client.structured(prompt, Categories)).categories)
    except LLMCallError:
        merged = []
    return merged[:target] if merged else candidates[:target]


async def _assign(node: Node, titles: list[str], client) -> str:
    listing = "\n".join(f"- {title}" for title in titles) + f"\n- {OTHER}"
    prompt = fill_template(_template("assign"), cluster=_describe([node]), categories=listing)
    try:
        return (await client.structured(prompt, Choice)).category
    except LLMCallError:
        return OTHER


async def _rename(parent: Node, candidate, children, client) -> tuple[str, str]:
    current = f"{candidate.title}: {candidate.description}" if candidate else OTHER
    prompt = fill_template(_template("rename"), current=current, children=_describe(children))
    try:
        named = await client.structured(prompt, Category)
        return clean(named.title)[:80], clean(named.description)
    except LLMCallError:
        title = candidate.title if candidate else OTHER
        return clean(title)[:80], clean(candidate.description if candidate else parent.description)


def _unique(categories: list[Category]) -> list[Category]:
    """Categories with distinct titles (case and spacing ignored), in order."""
    seen: set[str] = set()
    kept = []
    for category in categories:
        key = " ".join(clean(category.title).lower().split())
        if key and key not in seen and key != OTHER.lower():
            seen.add(key)
            kept.append(
                Category(title=clean(category.title)[:80], description=clean(category.description))
            )
    return kept


def _match(answer: str, titles: list[str]) -> str:
    """The candidate title an answer names: exact, then closest spelling; else Other."""
    wanted = " ".join(clean(answer).lower().strip(" .\"'").split())
    lowered = {" ".join(t.lower().split()): t for t in titles}
    if wanted in lowered:
        return lowered[wanted]
    close = difflib.get_close_matches(wanted, list(lowered), n=1, cutoff=0.75)
    return lowered[close[0]] if close else OTHER
