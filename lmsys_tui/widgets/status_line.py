"""One line on every screen: the workspace, the run being browsed, and a running job."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..safe_text import one_line


class StatusLine(Static):
    """Reads the app's `run_id` and `job_status`; redrawn when either changes."""

    def on_mount(self) -> None:
        self.watch(self.app, "run_id", lambda _: self.redraw(), init=False)
        self.watch(self.app, "job_status", lambda _: self.redraw(), init=False)
        self.redraw()

    def redraw(self) -> None:
        app = self.app
        text = Text("workspace ", style="dim")
        text.append(one_line(app.data_dir.name, 40))  # the folder's name; `status` has the path
        text.append("  ·  run ")
        text.append(one_line(app.run_id or "newest", 60), style="bold")
        text.append("  ·  ")
        if app.job_status:
            text.append(one_line(app.job_status, 60), style="bold")
        else:
            text.append("no job running", style="dim")
        self.update(text)
