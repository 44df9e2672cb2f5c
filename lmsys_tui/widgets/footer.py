"""A Footer that rebuilds its keys only when the keys it would show change."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeysFooter(Footer):
    """Textual's Footer rebuilds every key widget on each bindings refresh, and a screen
    refreshes its bindings on every focus change and several times while it opens (three
    rebuilds of 12 keys before the Runs screen was first drawn). This one rebuilds once
    per batch of refreshes, and not at all when the keys shown are the same."""

    _shown: tuple | None = None
    _rebuild_pending = False

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        if not self.is_attached:  # its screen was closed meanwhile
            return
        shown = self._keys_shown()
        if shown != self._shown:
            self._shown = shown
            await self.recompose()

    def _keys_shown(self) -> tuple:
        """What compose() reads from the screen's bindings: the keys it shows (a focused
        widget's hidden keys, such as a scroll pane's, change nothing) and the palette's."""
        bindings = self.screen.active_bindings
        palette = bindings.get(self.app.COMMAND_PALETTE_BINDING)
        return tuple(
            (binding, enabled, tooltip)
            for (_, binding, enabled, tooltip) in bindings.values()
            if binding.show
        ) + ((palette.binding, palette.enabled, palette.tooltip) if palette else (),)
