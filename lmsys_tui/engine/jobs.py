"""The job file (TOML, validated by `JobSpec`) and `run_job`, the one pipeline runner.

--run-job, the CLI and the TUI's job screen all call `run_job`; each step is skipped when
left out and reuses what already exists.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import tomllib
import uuid
from pathlib import Path

from pydantic import BaseModel, ValidationError

from .browse import NotFound, require_complete_run, resolve_summary_run
from .clustering.assign import assign_new_queries
from .clustering.runs import cluster_space, sparse_hdbscan_warning
from .embedding.embed import embed_queries, find_space
from .embedding.embedders import STATIC_TRADE_OFF, make_embedder
from .enrich.languages import detect_languages, english_only_warning
from .errors import (
    ClusterError,
    EmbedError,
    JobFileError,
    SummaryError,
    failure_line,
    is_interruption,
)
from .export import SAMPLE_OPTIONS, export_run
from .hierarchy.build import build_hierarchy
from .job_plan import missing_keys
from .load.ingest import load
from .naming.summarize import latest_run_id, latest_summary_run_id, summarize_run
from .progress import Progress, ProgressSink, null_sink
from .retrieval.index import IndexResult, update_indexes, update_query_index, update_summary_index
from .retrieval.keyword_index import update_keyword_index
from .specs import EmbedStep, JobSpec
from .workspace import Workspace


def parse_job_file(path: Path | str) -> JobSpec:
    """Read and validate a job file.

    Raises:
        JobFileError: one line naming the file, line and key of the first problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JobFileError(f"no such job file: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise JobFileError(f"cannot read job file {path}: {error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise JobFileError(f"{path}: invalid TOML: {error}") from None
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as error:
        raise JobFileError(describe_validation_error(path, text, error)) from None
    return relative_to_job_file(spec, path.resolve().parent)


def relative_to_job_file(spec: JobSpec, folder: Path) -> JobSpec:
    """Relative paths in a job file mean paths beside the job file, wherever it is run
    from: files to read and write, prompt and taxonomy files. A load source that is not
    there stays as written (it may be a Hugging Face dataset name)."""

    def beside(value: str | None, must_exist: bool = False) -> str | None:
        if value is None or Path(value).expanduser().is_absolute() or value.startswith("~"):
            return value
        candidate = folder / value
        return str(candidate) if candidate.exists() or not must_exist else value

    updates = {}
    if spec.load and spec.load.source != "sharegpt-sample":
        updates["load"] = spec.load.model_copy(
            update={"source": beside(spec.load.source, must_exist=True)}
        )
    if spec.summarize:
        updates["summarize"] = spec.summarize.model_copy(
            update={
                "prompt_file": beside(spec.summarize.prompt_file),
                "taxonomy": beside(spec.summarize.taxonomy),
            }
        )
    if spec.export:
        updates["export"] = spec.export.model_copy(update={"path": beside(spec.export.path)})
    return spec.model_copy(update=updates)


def describe_validation_error(path: Path, text: str, error: ValidationError) -> str:
    """The first error as `file:line: section.key: what is wrong`.

    An unknown key is reported before the missing key it probably misspells.
    """
    problems = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = problems[0]
    loc = [str(part) for part in first["loc"]]
    key = ".".join(loc) or "(top level)"
    line = _line_of(text, loc)
    where = f"{path}:{line}" if line else str(path)
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(allowed)}"
        return f"{where}: {key}: unknown key; {hint}"
    given = first.get("input")
    shown = "" if isinstance(given, dict) or given is None else f" (got {given!r})"
    return f"{where}: {key}: {first['msg']}{shown}"


def _allowed_keys(section: list[str]) -> list[str]:
    model: type[BaseModel] = JobSpec
    for part in section:
        annotation = model.model_fields[part].annotation
        model = next(
            arg
            for arg in getattr(annotation, "__args__", (annotation,))
            if isinstance(arg, type) and issubclass(arg, BaseModel)
        )
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _line_of(text: str, loc: list[str]) -> int | None:
    """The line where `loc` (["section", "key"]) is set, or where its section starts."""
    section, key = (loc[0], loc[-1]) if len(loc) > 1 else (None, loc[0] if loc else None)
    current, section_line = None, None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\s*([^\]]+?)\s*\]", line)
        if header:
            current = header.group(1).strip('"')
            if current == section or (section is None and current == key):
                section_line = section_line or number
            continue
        if current == section and key and re.match(rf'^"?{re.escape(key)}"?\s*=', line):
            return number
    return section_line


def run_job(ws: Workspace, spec: JobSpec, progress: ProgressSink = null_sink) -> dict:
    """Run the job's steps in order; return the ids and counts each produced.

    The job is recorded in the `jobs` table with its status and, on failure, the error.
    """
    job_id = uuid.uuid4().hex[:12]
    ws.con.execute(
        "INSERT INTO jobs VALUES (?, ?, 'running', NULL, NULL, NULL, now()::TIMESTAMP, NULL)",
        [job_id, spec.model_dump_json(by_alias=True, exclude_none=True)],
    )
    result: dict = {"job_id": job_id, "data_dir": str(ws.root)}
    # Embed and summarize steps keep the search indexes up to date as they go.
    indexes = IndexResult()
    step_name = None
    try:
        check_keys(ws, spec)
        if spec.load:
            step_name = "load"
            _mark(ws, job_id, step_name)
            # The keyword index is not built here: a load runs at DuckDB's speed, and the
            # index follows with the embed step, an [index] step or the first keyword search.
            result["load"] = load(ws, spec.load, progress).as_dict()
        if spec.languages and spec.languages.enabled:
            step_name = "languages"
            _mark(ws, job_id, step_name)
            result["languages"] = detect_languages(
                ws, progress, redetect=spec.languages.redetect
            ).as_dict()
        if spec.embed:
            step_name = "embed"
            _mark(ws, job_id, step_name)
            result["embed"] = embed_queries(ws, spec.embed, progress).as_dict()
            embedder = make_embedder(spec.embed)
            warnings = [english_only_warning(ws, embedder.provider, embedder.model)]
            if embedder.provider == "model2vec":
                warnings.append(STATIC_TRADE_OFF)
            for warning in filter(None, warnings):
                result.setdefault("warnings", []).append(warning)
                progress(Progress("embed", 1, 1, f"warning: {warning}"))
            indexes.keywords = update_keyword_index(ws, progress).as_dict()
            space_id = result["embed"]["space_id"]
            indexes.queries.append(update_query_index(ws, space_id, progress).as_dict())
        if spec.cluster:
            step_name = "cluster"
            _mark(ws, job_id, step_name)
            space_id = _space_for_cluster(ws, spec.embed)
            clustered = cluster_space(ws, spec.cluster, space_id, progress)
            result["cluster"] = clustered.as_dict()
            if warning := sparse_hdbscan_warning(spec.cluster, clustered):
                result.setdefault("warnings", []).append(warning)
                progress(Progress("cluster", 3, 3, f"warning: {warning}"))
        if spec.assign:
            step_name = "assign"
            _mark(ws, job_id, step_name)
            run_id = _target_run(ws, spec.assign.run_id, result)
            result["assign"] = assign_new_queries(ws, spec.assign, run_id, progress).as_dict()
        if spec.summarize:
            step_name = "summarize"
            _mark(ws, job_id, step_name)
            run_id = _target_run(ws, spec.summarize.run_id, result)
            result["summarize"] = summarize_run(ws, spec.summarize, run_id, progress).as_dict()
            summary_run_id = result["summarize"]["summary_run_id"]
            indexes.summaries.append(update_summary_index(ws, summary_run_id, progress).as_dict())
        if spec.hierarchy:
            step_name = "hierarchy"
            _mark(ws, job_id, step_name)
            run_id = _target_run(ws, spec.hierarchy.run_id, result)
            if spec.hierarchy.summary:
                summary_run_id = resolve_summary_run(ws.con, run_id, spec.hierarchy.summary)
            elif spec.summarize and result["summarize"]["run_id"] == run_id:
                summary_run_id = result["summarize"]["summary_run_id"]
            else:
                summary_run_id = latest_summary_run_id(ws, run_id)
            result["hierarchy"] = build_hierarchy(
                ws, spec.hierarchy, run_id, summary_run_id, progress
            ).as_dict()
        if spec.index:
            step_name = "index"
            _mark(ws, job_id, step_name)
            space_ids = None
            if spec.index.model:
                space_ids = [_space_for_cluster(ws, EmbedStep(model=spec.index.model))]
            explicit = update_indexes(
                ws, progress, space_ids, spec.index.summaries, spec.index.rebuild
            )
            indexes.keywords = explicit.keywords
            indexes.queries += explicit.queries
            indexes.summaries += explicit.summaries
        if indexes != IndexResult():
            result["index"] = indexes.as_dict()
        if spec.export:
            step_name = "export"
            _mark(ws, job_id, step_name)
            run_id = _target_run(ws, spec.export.run_id, result)
            step = spec.export
            sample = step.model_dump(include=set(SAMPLE_OPTIONS))
            result["export"] = export_run(
                ws, run_id, step.path, step.summary, step.hierarchy, **sample
            ).as_dict()
    except BaseException as error:
        interrupted = is_interruption(error)
        # Recording the failure can fail too (a full disk): the step's error is the news.
        with contextlib.suppress(Exception):
            _finish(
                ws,
                job_id,
                "cancelled" if interrupted else "failed",
                result,
                failure_line(error) or str(error) or type(error).__name__,
            )
        raise
    _finish(ws, job_id, "succeeded", result, None)
    progress(Progress("job", 1, 1, "done"))
    return result


def check_keys(ws: Workspace, spec: JobSpec) -> None:
    """Before any step runs: a missing key fails the job at once, not after the load and
    embed steps and a retried request per cluster. Unless the workspace has finished a
    step with that model before: then a rerun may need no request, and the step itself
    fails at once if it needs one."""
    for name, problem in missing_keys(spec).items():
        if not _finished_before(ws, name, getattr(spec, name).model):
            raise (EmbedError if name == "embed" else SummaryError)(problem)


def _finished_before(ws: Workspace, step: str, model: str) -> bool:
    table = {
        "embed": "embedding_spaces WHERE model = ?",
        "summarize": "summary_runs WHERE model = ? AND status = 'complete'",
        "hierarchy": "hierarchy_runs WHERE model = ? AND status = 'complete'",
    }[step]
    return ws.con.execute(f"SELECT count(*) FROM {table}", [model]).fetchall()[0][0] > 0


def _target_run(ws: Workspace, run_id: str | None, result: dict) -> str:
    """The run a step works on: the one it names, else the run this job made, else the
    newest complete run."""
    if run_id is None:
        return result["cluster"]["run_id"] if "cluster" in result else latest_run_id(ws)
    try:
        require_complete_run(ws.con, run_id)
    except NotFound as error:
        raise SummaryError(str(error)) from None
    return run_id


def _space_for_cluster(ws: Workspace, embed: EmbedStep | None) -> str:
    """The space the cluster step works in: the job's embed model; without an [embed]
    step the workspace's only space, else the default model's."""
    if embed is None:
        spaces = ws.con.execute("SELECT space_id FROM embedding_spaces").fetchall()
        if len(spaces) == 1:
            return spaces[0][0]
    step = embed or EmbedStep()
    embedder = make_embedder(step)
    found = find_space(ws, embedder.provider, embedder.model)
    if found is None:
        raise ClusterError(f"no vectors for model {step.model}: add an [embed] step first")
    return found[0]


def _mark(ws: Workspace, job_id: str, step: str) -> None:
    ws.con.execute("UPDATE jobs SET step = ? WHERE job_id = ?", [step, job_id])


def _finish(ws: Workspace, job_id: str, status: str, result: dict, error: str | None) -> None:
    ws.con.execute(
        "UPDATE jobs SET status = ?, result = ?, error = ?, finished_at = now()::TIMESTAMP "
        "WHERE job_id = ?",
        [status, json.dumps(result, default=str), error, job_id],
    )
