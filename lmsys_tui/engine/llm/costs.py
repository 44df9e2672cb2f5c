"""What an LLM step will ask for and cost, before it asks: the plan, and the cost cap.

Summaries: the prompts of (a sample of) the clusters still to name are built exactly as
the step builds them and counted with litellm's `token_counter` (the model's tokenizer
where litellm knows the model, else its default tokenizer: stated as an estimate).
Hierarchies: requests per level follow the Clio-style pass (propose per neighbourhood,
one deduplication, an assignment per node, a name per category); their prompts are
estimated from the node titles and descriptions. Cost comes from litellm's local price
map; a model it does not know (a local server) has no price, and the plan says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from ..errors import SummaryError
from ..workspace import Workspace

REPLY_TOKENS = 150  # a typical title + description reply; replies stop at max_tokens
SAMPLE_CLUSTERS = 25  # prompts built and counted; the rest are taken to be like them
HIERARCHY_REQUEST_TOKENS = 900  # template and instructions of one hierarchy request
CHARS_PER_TOKEN = 4.0


@dataclass
class StepPlan:
    step: str  # summarize or hierarchy
    model: str
    items: int  # clusters to name, or nodes to organise
    requests: int
    prompt_tokens: int
    completion_tokens: int  # expected (REPLY_TOKENS a reply)
    max_completion_tokens: int  # at most (max_tokens a reply)
    cost: float | None  # expected, in USD; None when litellm has no price for the model
    max_cost: float | None  # at most (every reply as long as max_tokens)
    counted_by: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def cost_per_request(self) -> float | None:
        return None if self.cost is None or not self.requests else self.cost / self.requests

    def line(self) -> str:
        """The plan in one line, as printed before the step sends anything."""
        cost = (
            f"~${self.cost:.4f} expected, at most ${self.max_cost:.4f}"
            if self.cost is not None
            else "no price known for this model"
        )
        return (
            f"plan: {self.items:,} {'clusters' if self.step == 'summarize' else 'nodes'}, "
            f"{self.requests:,} requests, ~{self.prompt_tokens:,} prompt tokens "
            f"({self.counted_by}), {cost}"
        )


def _litellm():
    from .client import import_litellm

    return import_litellm()


def count_tokens(model: str, texts: list[str]) -> tuple[list[int], str]:
    """Token counts of `texts` for `model`, and how they were counted."""
    litellm = _litellm()
    known = model in litellm.model_cost or model.split("/", 1)[-1] in litellm.model_cost
    try:
        counts = [litellm.token_counter(model=model, text=text) for text in texts]
    except Exception:  # noqa: BLE001 - no tokenizer at all: characters are the estimate
        counts = [math.ceil(len(text) / CHARS_PER_TOKEN) for text in texts]
        return counts, "estimate: 4 characters a token"
    if known:
        return counts, "the model's tokenizer, through litellm"
    return counts, "estimate: litellm's default tokenizer (the model is unknown to litellm)"


def price(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD for these tokens from litellm's local price map; None for an unknown model."""
    litellm = _litellm()
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:  # noqa: BLE001 - not in the price map
        return None
    return float(prompt_cost + completion_cost)


def make_plan(step_name, model, items, requests, prompt_tokens, max_tokens, counted_by, notes):
    completion = requests * min(REPLY_TOKENS, max_tokens)
    most = requests * max_tokens
    cost = price(model, prompt_tokens, completion)
    highest = price(model, prompt_tokens, most)
    if cost is None:
        notes.append(f"litellm has no price for {model}: a local or unlisted model")
    return StepPlan(
        step_name,
        model,
        items,
        requests,
        prompt_tokens,
        completion,
        most,
        cost,
        highest,
        counted_by,
        notes,
    )


def plan_summaries(ws: Workspace, step, run_id: str, prompts=None) -> StepPlan:
    """The plan of a [summarize] step with an LLM on `run_id` (clusters still unnamed in
    the summary run it would continue); `prompts` as `cluster_prompts` returns them, when
    the caller has built them already."""
    from ..naming.llm_labels import cluster_prompts
    from ..naming.summarize import clusters_to_name

    space_id, missing = clusters_to_name(ws, step, run_id)
    notes = []
    if not missing:
        return StepPlan("summarize", step.model, 0, 0, 0, 0, 0, 0.0, 0.0, "nothing to ask")
    prompt_for, _ = prompts or cluster_prompts(ws, step, run_id, space_id)
    sample = missing[:: max(1, len(missing) // SAMPLE_CLUSTERS)][:SAMPLE_CLUSTERS]
    counts, counted_by = count_tokens(step.model, [prompt_for(c) for c in sample])
    tokens = round(sum(counts) / len(counts) * len(missing))
    if len(sample) < len(missing):
        notes.append(f"prompt tokens counted on {len(sample)} clusters, scaled to all")
    return make_plan(
        "summarize",
        step.model,
        len(missing),
        len(missing),
        tokens,
        step.max_tokens,
        counted_by,
        notes,
    )


def plan_hierarchy(ws: Workspace, step, run_id: str, summary_run_id: str) -> StepPlan:
    """The plan of a [hierarchy] step with an LLM: requests per level, estimated prompts."""
    from ..hierarchy.build import level_plan
    from ..hierarchy.llm_levels import NEIGHBOURHOOD_SIZE

    rows = ws.con.execute(
        "SELECT coalesce(s.title, ''), coalesce(s.description, '') FROM clusters c "
        "LEFT JOIN cluster_summaries s ON s.summary_run_id = ? AND s.cluster_id = c.cluster_id "
        "WHERE c.run_id = ? AND c.cluster_id >= 0",
        [summary_run_id, run_id],
    ).fetchall()
    leaves = len(rows)
    node_chars = sum(len(t) + min(len(d), 300) for t, d in rows) / max(leaves, 1)
    below, requests, tokens = leaves, 0, 0.0
    for target in level_plan(leaves, step.levels, step.merge_ratio, step.top_size):
        groups = max(1, math.ceil(below / NEIGHBOURHOOD_SIZE))
        listed = node_chars / CHARS_PER_TOKEN
        level_requests = groups + 1 + below + target  # propose, dedupe, assign, rename
        tokens += groups * (HIERARCHY_REQUEST_TOKENS + min(below, NEIGHBOURHOOD_SIZE) * listed)
        tokens += HIERARCHY_REQUEST_TOKENS + 3 * target * listed  # deduplicate candidates
        tokens += below * (HIERARCHY_REQUEST_TOKENS + listed + target * 12)  # assign
        tokens += target * (HIERARCHY_REQUEST_TOKENS + below / target * listed)  # rename
        requests += level_requests
        below = target
    notes = ["prompt tokens estimated from node titles and descriptions (4 characters a token)"]
    return make_plan(
        "hierarchy",
        step.model,
        leaves,
        requests,
        round(tokens),
        step.max_tokens,
        "estimate",
        notes,
    )


def check_cap(plan: StepPlan, max_cost: float | None) -> None:
    """Refuse a cap below one request before anything is sent (nothing is written).

    Raises:
        SummaryError: `max_cost` is below the expected cost of a single request.
    """
    if max_cost is None or plan.cost_per_request is None:
        return
    if max_cost < plan.cost_per_request:
        raise SummaryError(
            f"max_cost ${max_cost:.4f} is below one request (~${plan.cost_per_request:.4f} "
            f"with {plan.model}): raise it or drop it"
        )


def merged_usage(previous: str | dict | None, new: dict) -> dict:
    """A ledger: this pass's usage added to what earlier passes of the same run spent."""
    old = json.loads(previous) if isinstance(previous, str) else (previous or {})
    keys = [*old, *(key for key in new if key not in old)]  # a stable order, run to run
    total = {key: old.get(key, 0) + new.get(key, 0) for key in keys}
    if "cost" in total:
        total["cost"] = round(total["cost"], 6)
    return total


LEDGERS = {"summary_runs": "summary_run_id", "hierarchy_runs": "hierarchy_run_id"}


def add_to_ledger(con, table: str, row_id: str, usage: dict) -> None:
    """Add a pass's usage to the ledger of a summary run or hierarchy (`table`)."""
    key = LEDGERS[table]
    previous = con.execute(f"SELECT usage FROM {table} WHERE {key} = ?", [row_id]).fetchall()
    con.execute(
        f"UPDATE {table} SET usage = ?::JSON WHERE {key} = ?",
        [json.dumps(merged_usage(previous[0][0] if previous else None, usage)), row_id],
    )
