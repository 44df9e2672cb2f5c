"""The run's hierarchy as a tree whose arrows open and close categories, as in a file
manager: right (or l) opens a category, then steps into it; left (or h) closes it, then
steps out to its parent."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Tree


class ClusterTree(Tree):
    BINDINGS = [
        Binding("right,l", "open_or_enter", "Open", show=False),
        Binding("left,h", "close_or_leave", "Close", show=False),
    ]

    def action_open_or_enter(self) -> None:
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def action_close_or_leave(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)
