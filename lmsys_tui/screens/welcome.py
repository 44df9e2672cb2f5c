"""Shown over an empty workspace: how to load data, or load the sample with one key."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.screen import ModalScreen
from textual.widgets import Static

from ..safe_text import one_line


class WelcomeScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("l", "load_sample", "Load the sample", id="load-sample"),
        Binding("escape", "dismiss", "Close", id="close"),
    ]

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("Welcome to lmsys-tui\n\n", style="bold")
        text.append(f"The workspace {one_line(str(self.app.data_dir), 80)} has no queries yet.\n\n")
        text.append("Press ")
        text.append("l", style="bold reverse")
        text.append(
            " to load the bundled ShareGPT sample (~9.4k real prompts), embed it with the "
            "bundled model, cluster it into 50 topics, name them and build a hierarchy "
            "(about 2 minutes, offline), then open its clusters.\n\n"
        )
        text.append("Or run a job file headless, then press Ctrl+R here:\n")
        text.append("  lmsys-tui --run-job examples/quickstart.toml\n\n", style="bold")
        text.append("Escape closes this; Jobs (4) starts any step.")
        with Middle(), Center():
            yield Static(text, id="welcome")

    def action_load_sample(self) -> None:
        self.dismiss()
        self.app.start_quickstart()
