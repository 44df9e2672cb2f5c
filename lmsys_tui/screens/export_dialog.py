"""The export question: a file and how many queries per cluster, in one dialog.

One dialog, not two questions in a row: keys typed right after the file name's Enter (a
fast typist, a script's `tmux send-keys`) went to the screen between the two, and a
wrong answer was told in a notice after the dialog had gone, with what was typed lost.
Here a wrong answer is said in the dialog, under the fields, which keep what was typed.

Enter is a priority binding: it moves the focus to the next field before the keys after
it are handed out. A field takes its keys in its own queue, so it may not have taken
those typed before Enter yet; what it holds is read by a callback queued behind them.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from ..safe_text import one_line
from ..text_keys import give_early_key


class ExportChoice(NamedTuple):
    target: Path
    per_cluster: int | None  # None: every query
    pick: str  # "random" or "nearest"


class ExportScreen(ModalScreen[ExportChoice | None]):
    # Priority: Enter acts before the keys typed after it are given to a field.
    BINDINGS = [
        Binding("enter", "next", "Next", priority=True, id="next"),
        Binding("escape", "cancel", "Cancel", id="cancel"),
    ]

    def __init__(self, file_name: str) -> None:
        super().__init__()
        self.file_name = file_name

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Static(Text("Export this run", style="bold"))
            yield Label("File (.parquet, .csv, .json or .jsonl)")
            yield Input(value=self.file_name, id="export-path", select_on_focus=False)
            yield Label(
                "Queries per cluster: all, a number N (a random sample of N texts, copies "
                "left out), or N nearest (the N most typical)"
            )
            yield Input(value="all", id="export-sample", select_on_focus=False)
            yield Static("", id="export-error")
            yield Static(Text("Enter for the next field, then to export; Escape to cancel", "dim"))

    def on_mount(self) -> None:
        """The file name given is there to be replaced, as in a save dialog."""
        self.query_one("#export-path", Input).select_all()

    def on_key(self, event: events.Key) -> None:
        give_early_key(self, self.query_one("#export-path", Input), event)

    def action_next(self) -> None:
        path_field = self.query_one("#export-path", Input)
        sample_field = self.query_one("#export-sample", Input)
        if self.focused is sample_field:
            sample_field.call_later(self._finish)
            return
        self.set_focus(sample_field)
        sample_field.select_all()
        path_field.call_later(self._check_path)

    def _check_path(self) -> Path | None:
        path_field = self.query_one("#export-path", Input)
        try:
            target = check_target(path_field.value)
        except ValueError as error:
            self._refuse(path_field, error)
            return None
        self.query_one("#export-error", Static).update("")
        return target

    def _finish(self) -> None:
        target = self._check_path()
        if target is None:
            return
        sample_field = self.query_one("#export-sample", Input)
        try:
            per_cluster, pick = parse_sample(sample_field.value)
        except ValueError as error:
            self._refuse(sample_field, error)
            return
        self.dismiss(ExportChoice(target, per_cluster, pick))

    def _refuse(self, field: Input, error: ValueError) -> None:
        """Say why under the fields and go back to the one at fault, keeping its text."""
        self.query_one("#export-error", Static).update(Text(str(error), style="red"))
        self.set_focus(field)

    def action_cancel(self) -> None:
        self.dismiss(None)


def check_target(typed: str) -> Path:
    """The file to write: a new file, in a folder that is there, whose name ends in a
    format export knows."""
    from ..engine.export import FORMATS

    if not typed.strip():
        raise ValueError("Give a file name to export to")
    target = Path(typed.strip()).expanduser().resolve()
    if target.suffix.lower() not in FORMATS:
        raise ValueError(f"{one_line(target.name)}: end the name in {', '.join(sorted(FORMATS))}")
    if target.exists():
        raise ValueError(f"{one_line(str(target))} exists: choose another name")
    if not target.parent.is_dir():
        raise ValueError(f"{one_line(str(target.parent))}: no such folder")
    return target


def parse_sample(answer: str) -> tuple[int | None, str]:
    """The answer on queries per cluster as (per_cluster, pick): "all" or nothing is every
    query, "20" a random sample of 20 per cluster, "20 nearest" the 20 most typical."""
    from ..engine.export import PICKS

    words = answer.lower().split()
    if not words or words == ["all"]:
        return None, "random"
    pick = words[1] if len(words) == 2 else "random"
    if (
        len(words) > 2
        or not (words[0].isascii() and words[0].isdigit())
        or int(words[0]) < 1
        or pick not in PICKS
    ):
        raise ValueError(
            f"{one_line(answer)!r}: answer all, a number of queries per cluster, "
            "or a number and nearest"
        )
    return int(words[0]), pick
