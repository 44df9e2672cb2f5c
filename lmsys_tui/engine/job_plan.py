"""`--dry-run`: what each step of a job would do, and what its LLM steps would cost, with
nothing written and no request sent.

Counts come from the workspace as it is (none for a new one). An LLM step on a run that
exists is planned exactly as the step plans itself (`costs.py`); on the run the same job
would create, from its number of clusters and a sample of the workspace's prompts.
"""

from __future__ import annotations

from .llm.costs import (
    REPLY_TOKENS,
    StepPlan,
    count_tokens,
    make_plan,
    plan_hierarchy,
    plan_summaries,
)
from .specs import OFFLINE_MODELS, JobSpec
from .workspace import Workspace


def plan_job(ws: Workspace | None, spec: JobSpec) -> list[dict]:
    """One entry per step: {"step", "does", and "llm" (a StepPlan dict) for LLM steps}."""
    steps: list[dict] = []
    count = (
        (lambda sql, params=(): ws.con.execute(sql, list(params)).fetchall()[0][0]) if ws else None
    )
    queries = count("SELECT count(*) FROM queries") if ws else None
    missing = missing_keys(spec)
    if spec.load:
        limit = f", at most {spec.load.limit:,} queries" if spec.load.limit else ""
        steps.append({"step": "load", "does": f"read {spec.load.source}{limit}"})
    if spec.languages and spec.languages.enabled:
        sql = "SELECT count(*) FROM queries WHERE language IS NULL"
        what = "queries without a language"
        if spec.languages.redetect:
            sql += " OR query_id IN (SELECT query_id FROM detected_languages)"
            what += " or with a detected one"
        steps.append({"step": "languages", "does": _n(count(sql) if ws else None, what)})
    if spec.embed:
        embedded = (
            count(
                "SELECT count(*) FROM embeddings e JOIN embedding_spaces s USING (space_id) "
                "WHERE s.model = ?",
                [spec.embed.model],
            )
            if ws
            else None
        )
        pending = None if queries is None else queries - embedded
        where = ""
        if spec.embed.executor == "ray":
            where = f" on Ray ({spec.embed.ray_address or 'a local Ray'})"
        does = f"{spec.embed.model}: " + _n(pending, "queries to embed") + where
        if (problem := missing.get("embed")) and pending != 0:
            does += f"; will fail: {problem}"
        steps.append({"step": "embed", "does": does})
    new_run = None
    if spec.cluster:
        from .clustering.runs import describe_subset, subset_of

        subset = describe_subset(subset_of(spec.cluster))
        size = spec.cluster.n_clusters if spec.cluster.algorithm == "kmeans" else None
        new_run = size
        steps.append(
            {
                "step": "cluster",
                "does": f"{spec.cluster.algorithm}"
                + (f", {size} clusters" if size else "")
                + (f" over {subset}" if subset else "")
                + " (an identical earlier run, if there is one, is reused)",
            }
        )
    if spec.assign:
        steps.append({"step": "assign", "does": f"new queries into {_run(spec.assign.run_id)}"})
    run_now = _existing_run(ws, spec) if ws else None
    for which, what in (("summarize", "name clusters"), ("hierarchy", "categories")):
        step = getattr(spec, which)
        if step is None:
            continue
        entry = {"step": which, "does": f"{what} with {step.model}"}
        if step.model not in OFFLINE_MODELS:
            plan = _llm_plan(ws, spec, which, run_now, new_run)
            entry["llm"] = plan.as_dict() if plan else None
            entry["does"] += f"; {plan.line()}" if plan else "; cost unknown until the run exists"
            if (problem := missing.get(which)) and (plan is None or plan.requests):
                entry["does"] += f"; will fail: {problem}"
        steps.append(entry)
    if spec.index:
        steps.append({"step": "index", "does": "rebuild" if spec.index.rebuild else "update"})
    if spec.export:
        export = spec.export
        sample = (
            f" (up to {export.per_cluster:,} texts per cluster, {export.pick})"
            if export.per_cluster
            else ""
        )
        steps.append({"step": "export", "does": f"write {export.path}{sample}"})
    return steps


def _n(value: int | None, what: str) -> str:
    """A count and what it counts (12 queries to embed, 1 query to embed), or what the
    step will count when it runs (no workspace to count in yet)."""
    if value is None:
        return f"{what}: counted when it runs"
    return f"{value:,} {what.replace('queries', 'query', 1) if value == 1 else what}"


def _run(run_id: str | None) -> str:
    return run_id or "the newest run"


def _existing_run(ws: Workspace, spec: JobSpec) -> str | None:
    """The run the LLM steps would use when it exists already (named, or the newest when
    the job makes none)."""
    named = (spec.summarize and spec.summarize.run_id) or (spec.hierarchy and spec.hierarchy.run_id)
    if named:
        return named
    if spec.cluster:
        return None
    rows = ws.con.execute(
        "SELECT run_id FROM clustering_runs WHERE status = 'complete' "
        "ORDER BY created_at DESC, run_id DESC LIMIT 1"
    ).fetchall()
    return rows[0][0] if rows else None


def _llm_plan(ws, spec: JobSpec, which: str, run_id: str | None, new_run: int | None):
    if ws is not None and run_id is not None:
        if which == "summarize":
            return plan_summaries(ws, spec.summarize, run_id)
        from .naming.summarize import latest_summary_run_id

        try:
            summary_run_id = latest_summary_run_id(ws, run_id, spec.hierarchy.summary)
        except Exception:  # noqa: BLE001 - summaries come from this job: estimate below
            summary_run_id = None
        if summary_run_id:
            return plan_hierarchy(ws, spec.hierarchy, run_id, summary_run_id)
    if new_run is None:
        return None
    return _estimate_new_run(ws, spec, which, new_run)


def _estimate_new_run(ws, spec: JobSpec, which: str, clusters: int) -> StepPlan:
    """A run this job would make: `clusters` prompts like the workspace's own prompts."""
    step = spec.summarize if which == "summarize" else spec.hierarchy
    sample = []
    if ws is not None:
        sample = [
            row[0][:400]
            for row in ws.con.execute(
                "SELECT query_text FROM queries USING SAMPLE 40 ROWS (reservoir, 7)"
            ).fetchall()
        ]
    per_cluster = getattr(step, "max_queries", 10)
    texts = ["\n".join(sample[i : i + per_cluster]) for i in range(0, len(sample), per_cluster)]
    counts, counted_by = count_tokens(step.model, texts or ["x" * 2400])
    per_prompt = sum(counts) / len(counts) + 700  # the template's own instructions
    requests = clusters if which == "summarize" else clusters * 2
    notes = [f"estimated for a new run of {clusters} clusters from sampled prompts"]
    plan = make_plan(
        which,
        step.model,
        clusters,
        requests,
        round(per_prompt * requests),
        getattr(step, "max_tokens", REPLY_TOKENS),
        counted_by,
        notes,
    )
    return plan


def missing_keys(spec: JobSpec) -> dict[str, str]:
    """Per step, the API key it needs and the environment lacks (LLM names and
    categories, API embeddings)."""
    from .llm.client import missing_key

    found = {}
    if spec.embed and spec.embed.provider == "litellm":
        found["embed"] = missing_key(spec.embed.model, spec.embed.api_base)
    for name in ("summarize", "hierarchy"):
        step = getattr(spec, name)
        if step is not None and step.model not in OFFLINE_MODELS:
            found[name] = missing_key(step.model, step.api_base)
    return {name: problem for name, problem in found.items() if problem}
