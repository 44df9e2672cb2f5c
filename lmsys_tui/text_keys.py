"""Keys that open a text field (the filter, a rename, the search) act before the keys
typed right after them are dispatched.

Textual runs an ordinary binding once its key has bubbled up from the focused widget; by
then the keys that came in the same burst (a script's `tmux send-keys`, a fast typist)
have gone to the old focus: "fpython" opened the pictures (`p`) and filtered nothing, and
"rNew title" lost the title. A priority binding runs first, so the field has focus (or
the question is open) when the next key is dispatched. In a text field, or under a
question, the key is left to it.
"""

from __future__ import annotations

import functools

from textual import events
from textual.actions import SkipAction
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, TextArea


def text_binding(key: str, action: str, description: str, **options) -> Binding:
    """A binding whose action opens or focuses a text field; mark the action with
    `unless_typing`."""
    return Binding(key, action, description, priority=True, **options)


def unless_typing(action):
    """Skip the action, so the key reaches the field, while a text field has focus or a
    modal question is open (priority bindings are checked even under a modal)."""

    @functools.wraps(action)
    def guarded(self, *args):
        app = self.app
        if isinstance(app.focused, (Input, TextArea)) or isinstance(app.screen, ModalScreen):
            raise SkipAction()
        return action(self, *args)

    return guarded


def give_early_key(screen: Screen, field: Input, event: events.Key) -> None:
    """For a question's `on_key`: a letter typed before its field has focus (right after
    the key that opened the question) goes to the field, as the keys after it will."""
    if not field.has_focus and event.is_printable:
        screen.set_focus(field)
        field.post_message(events.Key(event.key, event.character))
        event.stop()
        event.prevent_default()
