"""Headless front end for --run-job: progress on stderr, one JSON object on stdout.

Rich progress bars when stderr is a terminal, plain lines otherwise (logs, agents, CI).
Never imports Textual.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .engine.errors import LmsysError, failure_line, is_interruption
from .engine.jobs import parse_job_file, run_job
from .engine.progress import Progress as ProgressEvent
from .engine.workspace import open_workspace
from .job_summary import summary


class PlainProgress:
    """One line per new message, and per stage at most one count line every `interval`
    seconds (a message repeated with each chunk's count is a count line)."""

    def __init__(self, stream: TextIO, interval: float = 5.0) -> None:
        self.stream = stream
        self.interval = interval
        self._last: dict[str, float] = {}
        self._message: dict[str, str] = {}

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        finished = event.total is not None and event.done >= event.total
        if event.message and event.message != self._message.get(event.stage):
            line = f"{event.stage}: {event.message}"
            self._message[event.stage] = event.message
        elif finished or now - self._last.get(event.stage, 0.0) >= self.interval:
            total = f"/{event.total:,}" if event.total is not None else ""
            message = f"{event.message} " if event.message else ""
            line = f"{event.stage}: {message}{event.done:,}{total}"
        else:
            return
        self._last[event.stage] = now
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class RichProgress:
    """A live bar per stage on stderr; messages are printed above the bars."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, int] = {}
        self.bars.start()

    def __call__(self, event: ProgressEvent) -> None:
        if event.message:
            self.bars.console.print(f"[dim]{escape(event.stage)}:[/] {escape(event.message)}")
        if event.stage == "job":
            return
        if event.stage not in self.tasks:
            self.tasks[event.stage] = self.bars.add_task(event.stage, total=event.total)
        self.bars.update(self.tasks[event.stage], completed=event.done, total=event.total)

    def close(self) -> None:
        self.bars.stop()


def run_job_file(job_file: str, data_dir: Path, as_json: bool, dry_run: bool = False) -> int:
    """Run a job file; print a summary (or JSON) on stdout; return the exit code."""
    stderr = Console(stderr=True)
    try:
        spec = parse_job_file(job_file)
        if dry_run:
            return _dry_run(spec, data_dir, as_json)
    except LmsysError as error:
        return _fail(error, as_json)
    sink = RichProgress(stderr) if stderr.is_terminal else PlainProgress(sys.stderr)
    try:
        with open_workspace(data_dir) as ws:
            result = run_job(ws, spec, sink)
    except BaseException as error:
        sink.close()
        if is_interruption(error):  # Ctrl-C, also inside a DuckDB query
            return _fail(
                "interrupted: what was committed is kept; run the job again to resume",
                as_json,
                code=130,
            )
        message = failure_line(error)
        if message is None:
            raise
        return _fail(message, as_json)
    sink.close()
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(summary(result))
    return 0


def _dry_run(spec, data_dir: Path, as_json: bool) -> int:
    """Print each step's plan; open an existing workspace read-only, create nothing."""
    from .engine.job_plan import plan_job
    from .engine.workspace import DATABASE_FILE

    if (data_dir / DATABASE_FILE).exists():
        with open_workspace(data_dir, read_only=True) as ws:
            steps = plan_job(ws, spec)
    else:
        steps = plan_job(None, spec)
    if as_json:
        print(json.dumps({"data_dir": str(data_dir), "dry_run": True, "steps": steps}, indent=2))
    else:
        print(f"dry run on {data_dir}: nothing is written, no request sent")
        for step in steps:
            print(f"{step['step']}: {step['does']}")
            for note in (step.get("llm") or {}).get("notes", []):
                print(f"  {note}")
    return 0


def _fail(error: object, as_json: bool, code: int = 1) -> int:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if as_json:
        print(json.dumps({"error": message}))
    print(f"error: {message}", file=sys.stderr)
    return code
