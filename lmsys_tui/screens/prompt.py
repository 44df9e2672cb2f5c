"""Questions in a modal: a line of text (None on Escape), or yes / no."""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from ..text_keys import give_early_key


class PromptScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel")]

    def __init__(
        self,
        question: str,
        value: str = "",
        placeholder: str = "",
        suggestions: list[str] | None = None,
    ) -> None:
        """`suggestions` complete what is typed (right arrow takes one)."""
        super().__init__()
        self.question, self.value, self.placeholder = question, value, placeholder
        self.suggestions = suggestions

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Static(Text(self.question, style="bold"))
            yield Input(
                value=self.value,
                placeholder=self.placeholder,
                id="prompt-input",
                select_on_focus=False,
                suggester=SuggestFromList(self.suggestions, case_sensitive=False)
                if self.suggestions
                else None,
            )
            yield Static(Text("Enter to confirm, Escape to cancel", style="dim"))

    def on_mount(self) -> None:
        """The value given is there to be replaced, as a file name in a save dialog: it
        starts selected, so typing replaces it, and an arrow key keeps it to edit."""
        self.query_one("#prompt-input", Input).select_all()

    def on_key(self, event: events.Key) -> None:
        give_early_key(self, self.query_one("#prompt-input", Input), event)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no to something that cannot be undone: only `y` says yes, so a stray Enter
    or space keeps what is there."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="yes"),
        Binding("n,escape", "answer(False)", "No", id="no"),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question, self.detail = question, detail

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Static(Text(self.question, style="bold"))
            if self.detail:
                yield Static(Text(self.detail))
            yield Static(Text("y to confirm, n or Escape to keep it", style="dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
