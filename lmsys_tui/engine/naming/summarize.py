"""Summary runs: a title and description for every cluster of a clustering run.

Every pass is a new summary run (`summary-<model>-<timestamp>`, or reused when the same
run, model, alias and parameters already have one); each cluster's summary is saved as
it completes, so an interrupted pass resumes with the missing clusters only.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from ..browse import NotFound, newest_run_id, unknown_run
from ..errors import SummaryError
from ..progress import Progress, ProgressSink, null_sink
from ..specs import OFFLINE_MODELS, SummarizeStep
from ..store import slug, unique_id
from ..workspace import Workspace
from .offline import offline_labels
from .taxonomy import load_taxonomy, taxonomy_key


@dataclass
class SummaryResult:
    summary_run_id: str
    run_id: str
    model: str
    alias: str | None
    summarized: int
    already_done: int
    reused: bool
    seconds: float
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    usage: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def latest_run_id(ws: Workspace) -> str:
    try:
        return newest_run_id(ws.con)
    except NotFound:
        raise SummaryError("no clustering run to summarize: add a [cluster] step first") from None


def latest_summary_run_id(ws: Workspace, run_id: str, alias: str | None = None) -> str:
    """The newest complete summary run of a run (by alias when given); a partial one
    (some clusters failed) only when there is no complete one."""
    rows = ws.con.execute(
        "SELECT summary_run_id FROM summary_runs WHERE run_id = ? "
        "AND status IN ('complete', 'partial') AND (? IS NULL OR alias = ?) "
        "ORDER BY status = 'complete' DESC, created_at DESC, summary_run_id DESC LIMIT 1",
        [run_id, alias, alias],
    ).fetchall()
    if not rows:
        what = f"alias {alias!r}" if alias else "summaries"
        raise SummaryError(f"run {run_id} has no {what}: add a [summarize] step first")
    return rows[0][0]


def _parameters(step: SummarizeStep) -> dict:
    """What changes the summaries (not concurrency or rpm): a new pass when it changes."""
    parameters = {
        "max_queries": step.max_queries,
        "seed": step.seed,
        "api_base": step.api_base,
        "prompt_file": step.prompt_file,
    }
    if step.model == "taxonomy":
        parameters["taxonomy"] = taxonomy_key(step.taxonomy)
        parameters["min_similarity"] = step.min_similarity
    return parameters


def summarize_run(
    ws: Workspace, step: SummarizeStep, run_id: str, progress: ProgressSink = null_sink
) -> SummaryResult:
    """Summarize every cluster of `run_id` that the matching summary run still lacks.

    A pass where some clusters failed is stored as `partial` (never the default over a
    complete run; the next pass asks for the failed clusters only); a pass where every
    request failed fails with the first underlying error.

    Raises:
        SummaryError: the run does not exist, the model cannot be used, or every cluster
            of the pass failed.
    """
    started = time.perf_counter()
    space_id = _space_of_complete_run(ws, run_id)
    parameters = _parameters(step)
    plan = prompts = None
    if step.model not in OFFLINE_MODELS:
        from ..llm.client import missing_key
        from ..llm.costs import check_cap, plan_summaries
        from .llm_labels import cluster_prompts

        problem = missing_key(step.model, step.api_base)
        if problem and clusters_to_name(ws, step, run_id)[1]:  # requests needed
            raise SummaryError(problem)

        # Built once, for the plan and for the requests; before anything is written.
        prompts = cluster_prompts(ws, step, run_id, space_id)
        plan = plan_summaries(ws, step, run_id, prompts)
        check_cap(plan, step.max_cost)
    summary_run_id, status = _find_or_create(ws, step, run_id, parameters)
    cluster_ids = [
        c
        for (c,) in ws.con.execute(
            "SELECT cluster_id FROM clusters WHERE run_id = ? ORDER BY cluster_id", [run_id]
        ).fetchall()
    ]
    done = {
        c
        for (c,) in ws.con.execute(
            "SELECT cluster_id FROM cluster_summaries WHERE summary_run_id = ? AND error IS NULL",
            [summary_run_id],
        ).fetchall()
    }
    missing = [c for c in cluster_ids if c not in done]
    if status == "complete" and not missing:
        return SummaryResult(
            summary_run_id, run_id, step.model, step.alias, 0, len(done), True, 0.0
        )
    progress(Progress("summarize", 0, len(missing), f"{step.model} summaries of {run_id}"))
    failures: list[str] = []
    usage: dict = {}
    if step.model in OFFLINE_MODELS:
        topics = load_taxonomy(step.taxonomy) if step.model == "taxonomy" else None
        labels = offline_labels(
            ws,
            run_id,
            space_id,
            step.max_queries,
            step.seed,
            progress,
            topics,
            step.min_similarity,
        )
        _save_summaries(ws, summary_run_id, [(c, *labels[c], None) for c in missing])
        progress(Progress("summarize", len(missing), len(missing)))
    else:
        from ..llm.costs import add_to_ledger
        from .llm_labels import llm_labels

        progress(Progress("summarize", 0, len(missing), plan.line()))
        _, failures, usage = llm_labels(
            ws,
            step,
            run_id,
            space_id,
            missing,
            lambda row: _save_summaries(ws, summary_run_id, [row]),
            progress,
            plan.cost_per_request,
            prompts,
        )
        add_to_ledger(ws.con, "summary_runs", summary_run_id, usage)
    status = "partial" if failures else "complete"
    ws.con.execute(
        "UPDATE summary_runs SET status = ?, finished_at = now()::TIMESTAMP "
        "WHERE summary_run_id = ?",
        [status, summary_run_id],
    )
    if missing and len(failures) == len(missing):
        first = sorted(failures)[0].split(": ", 1)[-1]
        raise SummaryError(
            f"{step.model}: all {len(missing)} clusters failed; the first error: {first}"
        )
    return SummaryResult(
        summary_run_id,
        run_id,
        step.model,
        step.alias,
        len(missing) - len(failures),
        len(done),
        False,
        time.perf_counter() - started,
        len(failures),
        sorted(failures)[:20],
        usage,
    )


def _find_or_create(ws: Workspace, step: SummarizeStep, run_id: str, parameters: dict):
    if step.summary_run_id:
        given = ws.con.execute(
            "SELECT summary_run_id, status, run_id, model FROM summary_runs "
            "WHERE summary_run_id = ?",
            [step.summary_run_id],
        ).fetchall()
        if given and given[0][2:] != (run_id, step.model):
            raise SummaryError(
                f"summary run {step.summary_run_id} belongs to run {given[0][2]} with model "
                f"{given[0][3]}; choose another summary_run_id"
            )
        if given:
            return given[0][:2]
    found = _matching_run(ws, step, run_id, parameters)
    if found and not step.summary_run_id:
        return found
    base = f"summary-{slug(step.model)}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    summary_run_id = step.summary_run_id or unique_id(
        ws.con, "summary_runs", "summary_run_id", base
    )
    ws.con.execute(
        "INSERT INTO summary_runs VALUES "
        "(?, ?, ?, ?, ?::JSON, 'running', now()::TIMESTAMP, NULL, NULL)",
        [summary_run_id, run_id, step.alias, step.model, json.dumps(parameters, sort_keys=True)],
    )
    return summary_run_id, "running"


def _matching_run(ws: Workspace, step: SummarizeStep, run_id: str, parameters: dict):
    """(summary_run_id, status) of the newest pass with the same model, parameters and
    alias, which a new pass continues; None when there is none."""
    rows = ws.con.execute(
        """
        SELECT summary_run_id, status FROM summary_runs
        WHERE run_id = ? AND model = ? AND parameters = ?::JSON
          AND alias IS NOT DISTINCT FROM ?
        ORDER BY created_at DESC LIMIT 1
        """,
        [run_id, step.model, json.dumps(parameters, sort_keys=True), step.alias],
    ).fetchall()
    return rows[0] if rows else None


def _space_of_complete_run(ws: Workspace, run_id: str) -> str:
    """The space of `run_id`; SummaryError naming the runs there are when it is not one."""
    run = ws.con.execute(
        "SELECT space_id FROM clustering_runs WHERE run_id = ? AND status = 'complete'", [run_id]
    ).fetchall()
    if not run:
        raise SummaryError(unknown_run(ws.con, run_id))
    return run[0][0]


def clusters_to_name(ws: Workspace, step: SummarizeStep, run_id: str) -> tuple[str, list[int]]:
    """(the run's space, the clusters a pass of `step` would still ask for), writing
    nothing: what a plan counts."""
    space_id = _space_of_complete_run(ws, run_id)
    found = step.summary_run_id or (_matching_run(ws, step, run_id, _parameters(step)) or [None])[0]
    done = {
        c
        for (c,) in ws.con.execute(
            "SELECT cluster_id FROM cluster_summaries WHERE summary_run_id = ? AND error IS NULL",
            [found or ""],
        ).fetchall()
    }
    clusters = ws.con.execute(
        "SELECT cluster_id FROM clusters WHERE run_id = ? ORDER BY cluster_id", [run_id]
    ).fetchall()
    return space_id, [c for (c,) in clusters if c not in done]


def _save_summaries(ws: Workspace, summary_run_id: str, rows: list[tuple]) -> None:
    if not rows:
        return
    table = pa.table(
        {
            "cluster_id": pa.array([r[0] for r in rows], pa.int32()),
            "title": [r[1] for r in rows],
            "description": [r[2] for r in rows],
            "keywords": pa.array([r[3] for r in rows], pa.list_(pa.string())),
            "representative_ids": pa.array([r[4] for r in rows], pa.list_(pa.int64())),
            "error": pa.array([r[5] for r in rows], pa.string()),
        }
    )
    ws.con.register("new_summaries", table)
    try:
        ws.con.execute(
            """
            INSERT OR REPLACE INTO cluster_summaries
            SELECT ?, cluster_id, title, description, keywords, representative_ids, error,
                   now()::TIMESTAMP
            FROM new_summaries
            """,
            [summary_run_id],
        )
    finally:
        ws.con.unregister("new_summaries")
