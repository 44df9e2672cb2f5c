"""Clusters: the run's hierarchy as a tree, a detail pane, and a leaf's queries."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static, Tree

from ..engine.browse import (
    ClusterInfo,
    TreeNode,
    cluster_detail,
    hierarchy_nodes,
    list_clusters,
    list_runs,
    resolve_summary_run,
)
from ..widgets.cluster_detail import render_cluster_detail
from ..widgets.query_table import QueryTable


class ClustersScreen(Screen):
    """Browse one run: categories down to clusters; Enter on a cluster lists its queries."""

    AUTO_FOCUS = "#cluster-tree"
    BINDINGS = [
        Binding("s", "toggle_sort", "Sort size/title", id="sort"),
        Binding("f", "focus_filter", "Filter", id="filter"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort = "size"
        self.run_id: str | None = None
        self.summary_run_id: str | None = None
        self.clusters: list[ClusterInfo] = []
        self.nodes: list[TreeNode] = []
        self.pending_cluster: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="run-title", classes="title")
        with Horizontal():
            with Vertical(id="tree-pane"):
                yield Input(placeholder="filter clusters by title…", id="cluster-filter")
                yield Tree("clusters", id="cluster-tree")
            with Vertical(id="detail-pane"):
                yield Static(id="cluster-detail", classes="detail")
                yield QueryTable(id="cluster-queries")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Tree).show_root = False
        self.watch(self.app, "run_id", lambda _: self.load(), init=False)
        self.watch(self.app, "generation", lambda _: self.load(), init=False)
        self.load()

    @work(thread=True, exclusive=True, group="clusters")
    def load(self) -> None:
        cursor = self.app.cursor()
        if cursor is None:
            self.app.call_from_thread(self.show_empty, "No workspace open.")
            return
        runs = list_runs(cursor)
        run = next((r for r in runs if r.run_id == self.app.run_id), runs[0] if runs else None)
        if run is None:
            self.app.call_from_thread(
                self.show_empty, "No clustering run yet: start one from Jobs (4)."
            )
            return
        summary_run_id = resolve_summary_run(cursor, run.run_id)
        clusters = list_clusters(cursor, run.run_id, summary_run_id, self.sort)
        hierarchy = next((h for h in run.hierarchies if h.summary_run_id == summary_run_id), None)
        nodes = hierarchy_nodes(cursor, hierarchy.hierarchy_run_id) if hierarchy else []
        self.app.call_from_thread(self.show, run, summary_run_id, clusters, nodes)

    def show_empty(self, message: str) -> None:
        self.run_id = None
        self.query_one("#run-title", Static).update(Text(message))
        self.query_one(Tree).clear()

    def show(self, run, summary_run_id, clusters, nodes) -> None:
        self.run_id, self.summary_run_id = run.run_id, summary_run_id
        self.clusters, self.nodes = clusters, nodes
        title = Text()
        title.append(run.run_id, style="bold")
        title.append(f"  {run.n_clusters:,} clusters of {run.n_queries:,} queries")
        title.append(f"  ·  {summary_run_id or 'no summaries'}")
        title.append("  ·  " + ("hierarchy" if nodes else "flat list"))
        self.query_one("#run-title", Static).update(title)
        self.rebuild_tree()
        if self.pending_cluster is not None:
            self.open_cluster(self.pending_cluster)

    def open_cluster(self, cluster_id: int) -> None:
        """Show a cluster's detail and queries (once the run is loaded)."""
        if self.run_id is None:
            self.pending_cluster = cluster_id
            return
        self.pending_cluster = None
        self.load_detail(cluster_id)
        table = self.query_one(QueryTable)
        table.show_cluster(self.run_id, cluster_id)
        table.focus()

    def rebuild_tree(self) -> None:
        """Fill the tree: top categories down to leaves, filtered by the filter text."""
        tree = self.query_one(Tree)
        tree.clear()
        needle = self.query_one("#cluster-filter", Input).value.strip().lower()
        titles = {c.cluster_id: c.title for c in self.clusters}
        if not self.nodes:
            for cluster in self.clusters:
                if needle in cluster.title.lower():
                    tree.root.add_leaf(_label(cluster.title, cluster.size), data=cluster.cluster_id)
            return
        children: dict[str | None, list[TreeNode]] = {}
        for node in self.nodes:
            children.setdefault(node.parent_id, []).append(node)
        key = (
            (lambda n: (-n.size, n.node_id))
            if self.sort == "size"
            else (lambda n: (n.title.lower(), n.node_id))
        )

        def matches(node: TreeNode) -> bool:
            own = titles.get(node.cluster_id, node.title) if node.level == 0 else node.title
            return needle in own.lower() or any(
                matches(child) for child in children.get(node.node_id, [])
            )

        def add(parent, node: TreeNode) -> None:
            if needle and not matches(node):
                return
            if node.level == 0:
                title = titles.get(node.cluster_id, node.title)
                parent.add_leaf(_label(title, node.size), data=node.cluster_id)
                return
            branch = parent.add(_label(node.title, node.size), data=None, expand=bool(needle))
            for child in sorted(children.get(node.node_id, []), key=key):
                add(branch, child)

        for top in sorted(children.get(None, []), key=key):
            add(tree.root, top)

    @on(Input.Changed, "#cluster-filter")
    def _filter(self) -> None:
        self.rebuild_tree()

    @on(Tree.NodeHighlighted, "#cluster-tree")
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        if event.node.data is not None:
            self.load_detail(event.node.data)

    @on(Tree.NodeSelected, "#cluster-tree")
    def _selected(self, event: Tree.NodeSelected) -> None:
        if event.node.data is not None:
            self.open_cluster(event.node.data)

    @work(thread=True, exclusive=True, group="cluster-detail")
    def load_detail(self, cluster_id: int) -> None:
        cursor = self.app.cursor()
        if cursor is None or self.run_id is None:
            return
        detail = cluster_detail(cursor, self.run_id, cluster_id, self.summary_run_id)
        self.app.call_from_thread(
            self.query_one("#cluster-detail", Static).update, render_cluster_detail(detail)
        )

    def action_toggle_sort(self) -> None:
        self.sort = "title" if self.sort == "size" else "size"
        self.clusters = sorted(
            self.clusters,
            key=(lambda c: (-c.size, c.cluster_id))
            if self.sort == "size"
            else (lambda c: (c.title.lower(), c.cluster_id)),
        )
        self.rebuild_tree()
        self.notify(f"Sorted by {self.sort}")

    def action_focus_filter(self) -> None:
        self.query_one("#cluster-filter", Input).focus()

    def action_back(self) -> None:
        if self.query_one(QueryTable).has_focus:
            self.query_one(Tree).focus()
        else:
            self.app.switch_mode("runs")


def _label(title: str, size: int) -> Text:
    label = Text(title)
    label.append(f"  {size:,}", style="dim")
    return label
