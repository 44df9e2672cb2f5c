"""Jobs: start any pipeline step from a form built from its pydantic model; watch progress.

A job runs in a thread worker through `engine.jobs.run_job`, the same function as
--run-job. The TUI closes its read-only connection while the job writes, and reopens it
(refreshing every screen) when the job ends.
"""

from __future__ import annotations

from typing import Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Header,
    Input,
    Label,
    ProgressBar,
    Select,
    Static,
)
from textual.worker import Worker, WorkerState, get_current_worker

from ..engine.browse import list_runs
from ..engine.errors import JobCancelled, LmsysError, failure_line
from ..engine.progress import Progress
from ..engine.specs import (
    OFFLINE_MODELS,
    AssignStep,
    ClusterStep,
    EmbedStep,
    ExportStep,
    HierarchyStep,
    IndexStep,
    JobSpec,
    LanguagesStep,
    LoadStep,
    SummarizeStep,
)
from ..engine.workspace import Workspace, open_workspace
from ..job_summary import summary
from ..safe_text import one_line, printable
from ..widgets.footer import KeysFooter
from ..widgets.status_line import StatusLine
from ..widgets.tables import FittedTable

STEPS: dict[str, type[BaseModel]] = {
    "load": LoadStep,
    "languages": LanguagesStep,
    "embed": EmbedStep,
    "cluster": ClusterStep,
    "assign": AssignStep,
    "summarize": SummarizeStep,
    "hierarchy": HierarchyStep,
    "index": IndexStep,
    "export": ExportStep,
}


THEN_NAME_AND_GROUP = "then name the new run by key phrases and build its hierarchy"


class JobsScreen(Screen):
    """Past jobs, a form for a new one, and the running job's progress."""

    BINDINGS = [
        # Priority: ctrl+x goes before the focused field's own (cut) while a job runs, as
        # the focus is still in the form after ctrl+s; ctrl+s too, to stay first in the footer.
        Binding("ctrl+s", "start", "Start job", id="start", priority=True),
        Binding("ctrl+x", "cancel", "Cancel job", id="cancel", priority=True),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.step = "load"
        self.open_when_done = False  # a zoom job opens the run it made
        self.planned: str | None = None  # the LLM step whose plan is shown, awaiting start
        self.jobs: dict[str, Text] = {}  # job id -> the job in words, for the line below

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="job-form-pane"):
                yield Select(
                    [(name, name) for name in STEPS],
                    value="load",
                    allow_blank=False,
                    id="job-step",
                )
                # Not focusable: Tab goes from the step to its first field, and digits typed
                # there are not read as screen keys.
                yield VerticalScroll(id="job-form", can_focus=False)
                yield Static(id="job-form-error", classes="error")
                yield Button("Start (ctrl+s)", id="job-start", variant="primary")
            with Vertical(id="job-status-pane"):
                # A finished job's summary can be longer than the pane: Tab, then scroll.
                with VerticalScroll(id="job-stage-scroll"):
                    yield Static(id="job-stage", classes="status")
                yield ProgressBar(id="job-progress", show_eta=False)
                yield FittedTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
                # The highlighted job whole: a narrow table leaves its error or steps out.
                yield Static(id="job-detail", classes="detail")
        yield StatusLine()
        yield KeysFooter()

    async def on_mount(self) -> None:
        # The error takes the room left; on a narrow terminal the steps, the job id and
        # the start time give way whole (the line under the table says them).
        self.query_one("#jobs-table", FittedTable).set_columns(
            [
                ("job", 12),
                ("status", 9),
                ("step", 9),
                ("started", 16),
                ("steps", 28),
                ("error", 20),
            ],
            text="error",
            drop_order=["steps", "job", "started"],
            text_room=20,
        )
        self.query_one("#job-detail", Static).display = False
        self.query_one("#job-stage", Static).update(Text("No job running."))
        self.query_one("#job-progress").display = False  # an idle bar would pulse
        await self.build_form()
        self.watch(self.app, "generation", lambda _: self._workspace_changed(), init=False)
        self.load_jobs()

    def _workspace_changed(self) -> None:
        self.load_jobs()
        self._offer_current_runs()

    # -- the form --------------------------------------------------------------------------

    async def build_form(self) -> None:
        form = self.query_one("#job-form", VerticalScroll)
        await form.remove_children()
        model = STEPS[self.step]
        widgets = []
        for name, info in model.model_fields.items():
            key = info.alias or name
            annotation = info.annotation
            if _structured(annotation):  # where/within tables: job files and `z` set them
                continue
            label = Text(f"{key}" + ("" if info.is_required() else " (optional)"))
            widgets.append(Label(label))
            choices = _literal_choices(annotation)
            if annotation is bool:
                widgets.append(Checkbox(key, value=bool(info.default), id=f"field-{key}"))
            elif key == "run_id" and self.step != "cluster":  # the run to work on: offer them
                widgets.append(
                    Select(
                        [(run_id, run_id) for run_id in self._run_ids()],
                        prompt="newest run",
                        id=f"field-{key}",
                    )
                )
            elif choices:
                options = [(str(c), c) for c in choices]
                has_default = info.default in choices
                widgets.append(
                    Select(
                        options,
                        value=info.default if has_default else Select.NULL,
                        allow_blank=not has_default,
                        id=f"field-{key}",
                    )
                )
            else:
                default = (
                    "" if info.default in (None, ...) or info.is_required() else str(info.default)
                )
                widgets.append(
                    # A default is there to be replaced: Tab in and type, as in a web form.
                    Input(value=default, placeholder=info.description or "", id=f"field-{key}")
                )
            shown_as_placeholder = isinstance(widgets[-1], Input) and not widgets[-1].value
            if info.description and not shown_as_placeholder:
                # What a default or a choice means ("counted in micro-clusters") was hidden.
                label.append(f"\n{info.description}", style="dim")
        if self.step == "cluster":  # a run without names or categories shows "cluster 7"
            # First: the form is longer than the pane, and this changes what the job does.
            widgets[:0] = [
                Checkbox("+ names, hierarchy", value=True, id="then-name-and-group"),
                Label(Text(THEN_NAME_AND_GROUP, style="dim")),
            ]
        await form.mount_all(widgets)

    def _offer_current_runs(self) -> None:
        """The run choice lists the runs there are now: a job just made one, or one was
        deleted (it was offered until the step changed)."""
        for select in self.query("#field-run_id").results(Select):
            chosen, run_ids = select.value, self._run_ids()
            select.set_options([(run_id, run_id) for run_id in run_ids])
            if chosen in run_ids:
                select.value = chosen

    def _run_ids(self) -> list[str]:
        cursor = self.app.cursor()
        return [run.run_id for run in list_runs(cursor)] if cursor is not None else []

    @on(Select.Changed, "#job-step")
    async def _step_changed(self, event: Select.Changed) -> None:
        if str(event.value) == self.step:
            return
        self.step = str(event.value)
        self.query_one("#job-form-error", Static).update("")
        await self.build_form()

    def read_form(self) -> JobSpec | None:
        """The form as a JobSpec (one step; a cluster step with naming and a hierarchy
        unless unticked), or None after showing what is wrong."""
        values = {}
        then_name_and_group = False
        for widget in self.query_one("#job-form").query("Input, Select, Checkbox"):
            if widget.id == "then-name-and-group":
                then_name_and_group = widget.value
                continue
            key = widget.id.removeprefix("field-")
            if isinstance(widget, Input):
                if widget.value.strip():
                    values[key] = widget.value.strip()
            elif isinstance(widget, Checkbox) or widget.value is not Select.NULL:
                values[key] = widget.value
        try:
            steps = {self.step: values}
            if then_name_and_group:  # the defaults: this job's run, offline names
                steps.update(summarize={}, hierarchy={})
            return JobSpec.model_validate(steps)
        except ValidationError as error:
            from ..engine.jobs import describe_validation_error

            message = describe_validation_error("form", "", error).removeprefix("form: ")
            self.query_one("#job-form-error", Static).update(Text(one_line(message), "red"))
            return None

    def action_back(self) -> None:
        """Escape leaves a form field (digits then switch screens again), then the screen."""
        if isinstance(self.focused, Input):
            self.query_one("#job-step", Select).focus()
        else:
            self.app.switch_mode("runs")

    # -- running ---------------------------------------------------------------------------

    @on(Button.Pressed, "#job-start")
    def action_start(self) -> None:
        """Start the form's step; an LLM step shows its plan (requests, tokens, cost) first
        and starts on the second press."""
        spec = self.read_form()
        if spec is None:
            return
        self.query_one("#job-form-error", Static).update("")
        key = spec.model_dump_json()
        if _asks_an_llm(spec) and self.planned != key:
            self.planned = key
            self.query_one("#job-stage", Static).update(Text("planning what it will cost…"))
            self.show_plan(spec)
            return
        self.planned = None
        self.start(spec)

    @work(thread=True, exclusive=True, group="job-plan", exit_on_error=False)
    def show_plan(self, spec: JobSpec) -> None:
        from ..engine.job_plan import plan_job

        cursor = self.app.cursor()
        try:
            steps = plan_job(Workspace(self.app.data_dir, cursor) if cursor else None, spec)
            lines = [f"{step['step']}: {step['does']}" for step in steps]
            text = Text("\n".join(lines) + "\nPress ctrl+s again to start.", style="bold")
        except LmsysError as error:
            text = Text(f"cannot plan this step: {one_line(str(error))}", style="red")
        self.app.call_from_thread(self.query_one("#job-stage", Static).update, text)

    def start(self, spec: JobSpec, open_run: bool = False) -> None:
        """Run `spec` in a worker; `open_run`: show the run it made when it finishes."""
        if self.app.job_running():
            self.notify("A job is already running", severity="warning")
            return
        self.open_when_done = open_run
        self.query_one("#job-stage", Static).update(Text("starting…"))
        bar = self.query_one("#job-progress", ProgressBar)
        bar.update(total=None, progress=0)  # indeterminate until the first step reports
        bar.display = True
        self.run(spec)

    @work(thread=True, exclusive=True, group="jobs", exit_on_error=False, description="job")
    def run(self, spec: JobSpec) -> dict:
        worker = get_current_worker()

        def report(event: Progress) -> None:
            if worker.is_cancelled:
                raise JobCancelled("cancelled from the TUI")
            self.app.call_from_thread(self.show_progress, event)

        with self.app.search_lock:  # no search holds a cursor while the workspace closes
            self.app.call_from_thread(self.app.close_workspace, "a job is writing the workspace")
        try:
            with open_workspace(self.app.data_dir) as ws:
                from ..engine.jobs import run_job  # the whole pipeline: imported when used

                return run_job(ws, spec, report)
        finally:
            self.app.call_from_thread(self.app.workspace_changed)

    def show_progress(self, event: Progress) -> None:
        bar = self.query_one("#job-progress", ProgressBar)
        bar.update(total=event.total or None, progress=event.done)
        label = f"{event.stage}: {event.message}" if event.message else event.stage
        if event.total:
            label += f"  {event.done:,}/{event.total:,}"
        self.query_one("#job-stage", Static).update(Text(one_line(label, 100)))
        self.app.job_status = f"job: {label}"

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "jobs":
            return
        stage = self.query_one("#job-stage", Static)
        self.refresh_bindings()  # cancel: enabled while the job runs
        if event.worker.is_finished:
            self.query_one("#job-progress").display = False
            self.app.job_status = ""
        if event.state == WorkerState.SUCCESS:
            done = summary(event.worker.result or {}, workspace=False)
            stage.update(Text(printable("Job finished.\n" + done).strip()))
            self.notify("Job finished", title="Jobs")
            made = (event.worker.result or {}).get("cluster", {}).get("run_id")
            if self.open_when_done and made:
                self.open_when_done = False
                self.app.open_run(made)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            message = failure_line(error) or repr(error)
            stage.update(Text(one_line(f"Job failed: {message}"), style="red"))
            self.notify(one_line(message), title="Job failed", severity="error", markup=False)
        elif event.state == WorkerState.CANCELLED:
            stage.update(Text("Job cancelled; what it committed is kept."))

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Cancel is dimmed, and ctrl+x left to the field (cut), while no job runs."""
        if action == "cancel":
            return True if self.app.job_running() else None
        return True

    def action_cancel(self) -> None:
        running = [w for w in self.app.workers if w.group == "jobs" and w.is_running]
        for worker in running:
            worker.cancel()
        if not running:
            self.notify("No job is running")

    # -- past jobs -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="jobs-table", exit_on_error=False)
    def load_jobs(self) -> None:
        cursor = self.app.cursor()
        rows = []
        if cursor is not None:
            rows = cursor.execute(
                "SELECT job_id, status, step, spec, started_at, error FROM jobs "
                "ORDER BY started_at DESC, job_id LIMIT 200"
            ).fetchall()
        self.app.call_from_thread(self.show_jobs, rows)

    def show_jobs(self, rows) -> None:
        import json

        table = self.query_one("#jobs-table", FittedTable)
        table.clear_rows()
        self.jobs = {}
        for job_id, status, step, spec, started_at, error in rows:
            steps = ", ".join(json.loads(spec))
            started = started_at.strftime("%Y-%m-%d %H:%M")
            self.jobs[job_id] = describe_job(job_id, status, step, steps, started, error)
            cells = {
                "job": job_id,
                "status": Text(status, style=STATUS_STYLES.get(status, "")),
                "step": step or "-",
                "started": started,
                "steps": steps,
                "error": Text(one_line(error, 80)),
            }
            table.add_cells(cells, key=job_id)

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _job_highlighted(self, event: DataTable.RowHighlighted) -> None:
        detail = self.query_one("#job-detail", Static)
        detail.update(self.jobs.get(event.row_key.value, ""))
        detail.display = event.row_key.value in self.jobs


def describe_job(job_id, status, step, steps, started, error) -> Text:
    """A past job in a line or two: when, what, where it ended, and its whole error."""
    text = Text.assemble(
        (f"job {job_id}", "bold"),
        " · ",
        (status, STATUS_STYLES.get(status, "")),
        f" · started {started} · steps: {steps}",
    )
    if error:
        text.append(f"\n{step or 'job'}: {one_line(error, 600)}", STATUS_STYLES.get(status, ""))
    return text


def _asks_an_llm(spec: JobSpec) -> bool:
    steps = [spec.summarize, spec.hierarchy]
    return any(step and step.model not in OFFLINE_MODELS for step in steps)


def _structured(annotation) -> bool:
    """A table or list field, which a one-line input cannot hold."""
    for candidate in (annotation, *get_args(annotation)):
        origin = get_origin(candidate) or candidate
        if origin in (dict, list) or (isinstance(origin, type) and issubclass(origin, BaseModel)):
            return True
    return False


STATUS_STYLES = {"failed": "red", "cancelled": "yellow", "interrupted": "yellow"}


def _literal_choices(annotation) -> tuple | None:
    """The choices of a Literal (or Optional Literal) annotation."""
    for candidate in (annotation, *get_args(annotation)):
        if get_origin(candidate) is Literal:
            return get_args(candidate)
    return None
