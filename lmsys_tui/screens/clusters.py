"""Clusters: the run's hierarchy as a tree, a detail pane, and a leaf's queries."""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Input, Static, Tree

from ..engine.browse import (
    ClusterInfo,
    NotFound,
    TreeNode,
    cluster_detail,
    hierarchy_nodes,
    list_clusters,
    list_runs,
    resolve_summary_run,
    shown_node,
    sort_clusters,
)
from ..engine.curation.audit import cluster_tags
from ..engine.insight.facets import facet_lift, value_totals
from ..safe_text import one_line
from ..text_keys import text_binding, unless_typing
from ..widgets.cluster_detail import render_cluster_detail
from ..widgets.cluster_tree import ClusterTree
from ..widgets.footer import KeysFooter
from ..widgets.query_table import QueryTable
from ..widgets.status_line import StatusLine

CATEGORY_CLUSTERS_SHOWN = 15  # a category's detail lists this many of its clusters


class ClustersScreen(Screen):
    """Browse one run: categories down to clusters; Enter on a cluster lists its queries."""

    AUTO_FOCUS = "#cluster-tree"
    BINDINGS = [
        Binding("s", "toggle_sort", "Sort size/title", id="sort"),
        text_binding("f", "focus_filter", "Filter", id="filter"),
        Binding("escape", "back", "Back", id="back"),
        text_binding("r", "rename", "Rename", id="rename"),
        text_binding("t", "tag", "Tag", id="tag"),
        text_binding("m", "merge", "Merge", id="merge"),
        text_binding("v", "move", "Move query", id="move"),
        text_binding("b", "split", "Split", show=False, id="split"),
        Binding("d", "dissolve", "Dissolve", show=False, id="dissolve"),
        Binding("a", "audit", "Audit", id="audit"),
        Binding("n", "next_names", "Names", id="names"),
        text_binding("e", "export", "Export", id="export"),
        Binding("D", "delete_names", "Delete names", show=False, id="delete-names"),
        Binding("u", "undo", "Undo edit", id="undo"),
        Binding("z", "zoom", "Zoom in", id="zoom"),
        Binding("p", "pictures", "Pictures", id="pictures"),
        Binding("down", "to_tree", "Tree", show=False),  # from the filter: fields ignore it
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort = "size"
        self.run_id: str | None = None
        self.summary_run_id: str | None = None
        self.chosen_summary: str | None = None  # None: the run's newest summary run
        self.summary_runs: list = []
        self.clusters: list[ClusterInfo] = []
        self.nodes: list[TreeNode] = []
        self.pending_cluster: int | None = None
        self.detail_cluster: int | None = None  # the cluster the detail pane shows
        self.categories: dict = {}  # tree node id -> hierarchy node, for category details
        self.facet_totals: dict = {}  # (run, facet) -> value counts, the lifts' baseline

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="run-title", classes="title")
        with Horizontal():
            with Vertical(id="tree-pane"):
                yield Input(
                    placeholder="filter clusters by title…",
                    id="cluster-filter",
                    select_on_focus=False,
                )
                yield ClusterTree("clusters", id="cluster-tree")
            with Vertical(id="detail-pane"):
                # Focusable: Tab reaches it and the arrows scroll what a short pane cuts.
                with VerticalScroll(id="cluster-detail-scroll"):
                    yield Static(id="cluster-detail", classes="detail")
                yield QueryTable(id="cluster-queries")
        yield StatusLine()
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(Tree).show_root = False
        self.watch(self.app, "run_id", lambda _: self.load(), init=False)
        self.watch(self.app, "generation", lambda _: self.load(), init=False)
        self.load()

    @work(thread=True, exclusive=True, group="clusters", exit_on_error=False)
    def load(self) -> None:
        cursor = self.app.cursor()
        if cursor is None:
            self.app.call_from_thread(self.show_empty, "No workspace open.")
            return
        self.facet_totals = {}  # new queries or an edited run: count again
        runs = list_runs(cursor)
        run = next((r for r in runs if r.run_id == self.app.run_id), runs[0] if runs else None)
        if run is None:
            self.app.call_from_thread(
                self.show_empty, "No clustering run yet: start one from Jobs (4)."
            )
            return
        try:
            summary_run_id = resolve_summary_run(cursor, run.run_id, self.chosen_summary)
        except NotFound:  # the chosen names belong to another run
            summary_run_id = resolve_summary_run(cursor, run.run_id)
        clusters = list_clusters(cursor, run.run_id, summary_run_id, self.sort)
        # The hierarchy built on these names, else the newest: its leaves take these names.
        hierarchy = next(
            (h for h in run.hierarchies if h.summary_run_id == summary_run_id),
            run.hierarchies[0] if run.hierarchies else None,
        )
        nodes = hierarchy_nodes(cursor, hierarchy.hierarchy_run_id) if hierarchy else []
        self.app.call_from_thread(self.show, run, summary_run_id, clusters, nodes)

    def show_empty(self, message: str) -> None:
        """No run to show (none yet, or the last one deleted): nothing of one stays."""
        self.run_id = self.summary_run_id = self.detail_cluster = None
        self.clusters, self.nodes, self.categories = [], [], {}
        self.query_one("#run-title", Static).update(Text(message))
        self.query_one(Tree).clear()
        self.query_one("#cluster-detail", Static).update("")
        self._close_queries()

    def show(self, run, summary_run_id, clusters, nodes) -> None:
        same_run = self.run_id == run.run_id  # else its cluster ids mean other clusters
        self.run_id, self.summary_run_id = run.run_id, summary_run_id
        self.summary_runs = run.summary_runs
        self.clusters, self.nodes = clusters, nodes
        title = Text()
        title.append(run.run_id, style="bold")
        title.append(f"  {run.n_clusters:,} clusters of {run.n_queries:,} queries")
        names = next((r for r in run.summary_runs if r.summary_run_id == summary_run_id), None)
        # A run made by a lone cluster step has neither: say which step gives them.
        title.append(f"  ·  {summary_run_id or 'no names yet (Jobs: a summarize step)'}")
        if names and names.status == "partial":
            title.append(" (partial: some clusters failed; rerun the job)", style="bold")
        if names and len(run.summary_runs) > 1:
            title.append(f" ({names.model} names; n: next of {len(run.summary_runs)})")
        title.append("  ·  " + ("hierarchy" if nodes else "flat list (no hierarchy step yet)"))
        self.query_one("#run-title", Static).update(title)
        self.rebuild_tree(self.pending_cluster, keep=same_run)
        if self.pending_cluster is not None:
            self.open_cluster(self.pending_cluster)
            return
        if same_run and self.detail_cluster is not None:  # reloaded after a job or an edit
            self.load_detail(self.detail_cluster)
        table = self.query_one(QueryTable)
        if table.cluster_id is not None:
            listed = table.cluster_id
            if same_run and any(c.cluster_id == listed for c in clusters):
                table.show_cluster(run.run_id, listed, keep_row=True)  # its queries may move
            else:  # another run, or merged away
                self._close_queries()

    def action_undo(self) -> None:
        """Reverse the run's newest edit, recorded in the audit trail like any edit."""
        if self.run_id is None:
            return
        from ..engine.curation.edits import check_run
        from ..engine.curation.undo import edit_to_undo, undo_edit

        run_id = self.run_id

        def undo(ws):
            check_run(ws, run_id)
            undone = edit_to_undo(ws.con, run_id)
            undo_edit(ws, run_id, undone)
            return undone

        self.app.run_edit(
            _undone_message,
            undo,
            doing="Undoing the newest edit…",
        )

    @unless_typing
    def action_export(self) -> None:
        """Write the run (one row per query, with names and categories) to a file."""
        if self.run_id is None:
            return
        from .export_dialog import ExportScreen

        run_id, summary_run_id = self.run_id, self.summary_run_id

        def answered(choice) -> None:
            if choice is not None:  # None: Escape, no export
                self._export(run_id, summary_run_id, *choice)

        self.app.push_screen(ExportScreen(f"{run_id}.parquet"), answered)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export(
        self,
        run_id: str,
        summary_run_id: str | None,
        target: Path,
        per_cluster: int | None = None,
        pick: str = "random",
    ) -> None:
        from ..engine.errors import failure_line
        from ..engine.export import export_run
        from ..engine.workspace import Workspace

        cursor = self.app.cursor()
        if cursor is None:
            return
        if target.exists():  # written meanwhile: export_run would replace it
            message, severity = f"{target} exists: choose another name", "error"
        else:
            try:
                done = export_run(
                    Workspace(self.app.data_dir, cursor),
                    run_id,
                    target,
                    summary_run_id,
                    per_cluster=per_cluster,
                    pick=pick,
                )
                sample = f" (up to {per_cluster:,} per cluster, {pick})" if per_cluster else ""
                message = f"Exported {done.rows:,} rows{sample} to {target}"
                severity = "information"
            except Exception as error:
                why = failure_line(error)
                if why is None:
                    raise
                message, severity = f"Export failed: {why}", "error"
        self.app.call_from_thread(self.notify, message, severity=severity, markup=False)

    def action_next_names(self) -> None:
        """Show the run's next summary run: key phrases, taxonomy or LLM names."""
        ids = [r.summary_run_id for r in self.summary_runs]
        if len(ids) < 2:
            self.notify("this run has one set of names; add a [summarize] step for another")
            return
        current = ids.index(self.summary_run_id) if self.summary_run_id in ids else -1
        self.chosen_summary = ids[(current + 1) % len(ids)]
        self.load()

    def action_delete_names(self) -> None:
        """Delete the names shown (a summary run) with the hierarchies built on them."""
        if self.run_id is None:
            return
        if self.summary_run_id is None:
            self.notify("this run has no names to delete")
            return
        if self.app.job_running():  # it may be building a hierarchy on these names
            self.notify("A job is running: delete names when it ends", severity="warning")
            return
        from ..engine.deletion import summary_contents

        summary_run_id = self.summary_run_id
        self.app.count_then(lambda ws: summary_contents(ws, summary_run_id), self._ask_delete_names)

    def _ask_delete_names(self, contents) -> None:
        from ..engine.deletion import delete_summary_run

        summary_run_id = contents.summary_run_id

        def forget() -> None:  # the run's newest remaining names show next
            if self.chosen_summary == summary_run_id:
                self.chosen_summary = None

        if len(self.summary_runs) > 1:
            stay = "The run, its other names and its audit trail stay."
        else:
            stay = "The run and its audit trail stay; its clusters show their numbers."
        self.app.confirm_deletion(
            f"the names {one_line(summary_run_id, 80)}",
            f"Gone for good: {contents.describe()}. {stay}",
            lambda ws: delete_summary_run(ws, summary_run_id),
            done=forget,
        )

    def open_cluster(self, cluster_id: int) -> None:
        """Show a cluster's detail and queries (once the run is loaded), highlighted in
        the tree."""
        if self.run_id is None:
            self.pending_cluster = cluster_id
            return
        self.pending_cluster = None
        tree = self.query_one(Tree)
        if tree.cursor_node is None or tree.cursor_node.data != cluster_id:
            self._highlight(cluster_id)
        self.load_detail(cluster_id)
        table = self.query_one(QueryTable)
        table.show_cluster(self.run_id, cluster_id)
        self.query_one("#detail-pane").add_class("with-queries")
        table.focus()

    def _close_queries(self) -> None:
        """Empty and hide the query list, so that it never lists another cluster than the
        one the detail pane shows; the detail then has the whole pane."""
        self.query_one(QueryTable).close()
        self.query_one("#detail-pane").remove_class("with-queries")

    def _highlight(self, cluster_id: int) -> None:
        """Move the tree's cursor to a cluster, its categories opened."""
        found = next((n for n in _walk(self.query_one(Tree).root) if n.data == cluster_id), None)
        if found is not None:
            self._move_to(found)

    def _move_to(self, node) -> None:
        for parent in _ancestors(node):
            parent.expand()
        tree = self.query_one(Tree)
        last = tree.last_line  # numbers the rows just added or opened (numbered lazily)
        if 0 <= node.line <= last:  # an unnumbered node would put the cursor on row 0
            tree.move_cursor(node)

    def rebuild_tree(self, highlight: int | str | None = None, keep: bool = True) -> None:
        """Fill the tree: top categories down to leaves, filtered by the filter text. With
        `keep` the expanded categories and the highlighted row (or `highlight`, a row key)
        stay as they were; where that row is gone (filtered out), or for another run, the
        first matching cluster or the first row is highlighted, and the detail pane
        follows it."""
        tree = self.query_one(Tree)
        expanded = {_title_of(n) for n in _walk(tree.root) if n.data is None and n.is_expanded}
        if not keep:
            expanded = set()
        elif highlight is None:
            highlight = self._row_key(tree.cursor_node)
        tree.clear()
        tree.cursor_line = -1  # clear() keeps the line: the new row there would go unannounced
        self._fill_tree(tree)
        for node in _walk(tree.root):
            if node.data is None and _title_of(node) in expanded:
                node.expand()
        rows = list(_walk(tree.root))
        target = next((n for n in rows if self._row_key(n) == highlight), None)
        if target is None and self.query_one("#cluster-filter", Input).value.strip():
            target = next((n for n in rows if n.data is not None), None)  # the first match
        if target is None and tree.root.children:
            target = tree.root.children[0]
        if target is not None:
            self._move_to(target)

    def _row_key(self, node) -> int | str | None:
        """What a tree row shows, kept across rebuilds: a cluster id, or a category's
        hierarchy node id."""
        if node is None:
            return None
        if node.data is not None:
            return node.data
        category = self.categories.get(node.id)
        return category.node_id if category is not None else None

    def _fill_tree(self, tree: Tree) -> None:
        self.categories = {}
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

        def key(node: TreeNode) -> tuple:
            return node.order(self.sort)

        def matches(node: TreeNode) -> bool:
            own = titles.get(node.cluster_id, node.title) if node.level == 0 else node.title
            return needle in own.lower() or any(
                matches(child) for child in children.get(node.node_id, [])
            )

        def add(parent, node: TreeNode) -> None:
            if needle and not matches(node):
                return
            node = shown_node(node, children)  # one row, not a click per lone child
            if node.level == 0:
                title = titles.get(node.cluster_id, node.title)
                parent.add_leaf(_label(title, node.size), data=node.cluster_id)
                return
            branch = parent.add(_label(node.title, node.size), data=None, expand=bool(needle))
            self.categories[branch.id] = node
            for child in sorted(children.get(node.node_id, []), key=key):
                add(branch, child)

        for top in sorted(children.get(None, []), key=key):
            add(tree.root, top)
        # Clusters the hierarchy does not hold (new / unassigned, split off after it was
        # built, noise of an offline tree) stay reachable at the top.
        placed = {node.cluster_id for node in self.nodes if node.level == 0}
        for cluster in self.clusters:
            if cluster.cluster_id not in placed and needle in cluster.title.lower():
                tree.root.add_leaf(_label(cluster.title, cluster.size), data=cluster.cluster_id)

    @on(Input.Changed, "#cluster-filter")
    def _filter(self) -> None:
        """Refilter; the highlight (and so the detail pane) moves to the first match when
        its row is filtered out, and with nothing left the pane empties."""
        self.rebuild_tree()
        if not self.query_one(Tree).root.children:
            self._close_queries()
            self.detail_cluster = None
            self.query_one("#cluster-detail", Static).update("")

    @on(Tree.NodeHighlighted, "#cluster-tree")
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        if event.node.data != self.query_one(QueryTable).cluster_id:
            self._close_queries()  # Enter lists the highlighted cluster's queries
        if event.node.data is not None:
            self.load_detail(event.node.data)
            return
        category = self.categories.get(event.node.id)
        if category is not None:  # a category: what it holds, not an empty pane
            self.query_one("#cluster-detail", Static).update(self._category_detail(category))

    def _category_detail(self, category: TreeNode) -> Group:
        total = sum(c.size for c in self.clusters) or 1
        parents = {n.node_id: n.parent_id for n in self.nodes}  # once, not once per leaf
        leaves = [n for n in self.nodes if n.level == 0 and _within(n, category.node_id, parents)]
        text = Text(one_line(category.title, 120) + "\n", style="bold")
        text.append(
            f"category · level {category.level} · {category.size:,} queries · "
            f"{category.size / total:.1%} of the run · {_count(len(leaves), 'cluster')}\n\n"
        )
        text.append(one_line(category.description, 600) + "\n")
        text.append("\nclusters, largest first", style="bold")
        leaves.sort(key=lambda leaf: (-leaf.size, leaf.cluster_id))
        sizes = Table.grid(padding=(0, 1), pad_edge=True)  # a wrapped title keeps its column
        sizes.add_column(justify="right", style="dim")
        sizes.add_column()
        for leaf in leaves[:CATEGORY_CLUSTERS_SHOWN]:
            sizes.add_row(f"{leaf.size:,}", Text(one_line(leaf.title, 100)))
        more = len(leaves) - CATEGORY_CLUSTERS_SHOWN
        rest = [Text(f"  … and {more} more", style="dim")] if more > 0 else []
        return Group(text, sizes, *rest)

    @on(Tree.NodeSelected, "#cluster-tree")
    def _selected(self, event: Tree.NodeSelected) -> None:
        if event.node.data is not None:
            self.open_cluster(event.node.data)

    @work(thread=True, exclusive=True, group="cluster-detail", exit_on_error=False)
    def load_detail(self, cluster_id: int) -> None:
        cursor = self.app.cursor()
        if cursor is None or self.run_id is None:
            return
        self.detail_cluster = cluster_id
        try:
            detail = cluster_detail(cursor, self.run_id, cluster_id, self.summary_run_id)
        except NotFound:  # merged away by an edit
            self.detail_cluster = None
            self.app.call_from_thread(self.query_one("#cluster-detail", Static).update, "")
            return
        tags = cluster_tags(cursor, self.run_id).get(cluster_id, [])
        lifts = self._standing_out(cursor, cluster_id)
        self.app.call_from_thread(self._show_detail, detail, tags, lifts)

    def _show_detail(self, detail, tags, lifts) -> None:
        pane = self.query_one("#cluster-detail", Static)
        width = pane.size.width - pane.styles.padding.width  # its scroll pane has the bar
        pane.update(render_cluster_detail(detail, tags, lifts, width=max(width, 0) or None))

    def _standing_out(self, cursor, cluster_id: int) -> list:
        """The cluster's model and language values clearly over-represented against the run
        (see Lift.stands_out); the run's totals are counted once."""
        found = []
        for by in ("model", "language"):
            key = (self.run_id, by)
            if key not in self.facet_totals:
                self.facet_totals[key] = value_totals(cursor, self.run_id, by)
            lifts = facet_lift(cursor, self.run_id, by, cluster_id, totals=self.facet_totals[key])
            found += [(by, lift) for lift in lifts if lift.stands_out][:3]
        return found

    def action_toggle_sort(self) -> None:
        self.sort = "title" if self.sort == "size" else "size"
        self.clusters = sort_clusters(self.clusters, self.sort)
        self.rebuild_tree()
        self.notify(f"Sorted by {self.sort}")

    # -- curation (engine.curation; each edit is audited) ----------------------------------

    def _ask(self, question: str, then, value: str = "", **prompt) -> None:
        from .prompt import PromptScreen

        def answered(answer: str | None) -> None:
            if answer is not None and answer.strip():
                then(answer.strip())

        self.app.push_screen(PromptScreen(question, value, **prompt), answered)

    @unless_typing
    def action_rename(self) -> None:
        cluster_id, run_id = self._cluster_or_warn(), self.run_id
        if cluster_id is None:
            return
        from ..engine.curation.edits import rename_cluster

        current = next((c.title for c in self.clusters if c.cluster_id == cluster_id), "")

        def rename(title: str) -> None:
            for cluster in self.clusters:  # shown at once; the saved title follows
                if cluster.cluster_id == cluster_id:
                    cluster.title = title
            self.rebuild_tree()
            self.app.run_edit(
                f"Renamed cluster {cluster_id}",
                lambda ws: rename_cluster(ws, run_id, cluster_id, title, reason="TUI"),
            )

        self._ask(f"New title for cluster {cluster_id}", rename, current)

    @unless_typing
    def action_tag(self) -> None:
        cluster_id, run_id = self._cluster_or_warn(), self.run_id
        if cluster_id is None:
            return
        from ..engine.curation.edits import tag_cluster

        def tag(answer: str) -> None:
            word, _, note = answer.partition(" ")
            self.app.run_edit(
                f"Tagged cluster {cluster_id} {word}",
                lambda ws: tag_cluster(ws, run_id, cluster_id, word, note or None, "TUI"),
            )

        self._ask(f"Tag cluster {cluster_id} (good, bad, pii, ... then a note)", tag)

    @unless_typing
    def action_merge(self) -> None:
        cluster_id, run_id = self._cluster_or_warn(), self.run_id
        if cluster_id is None:
            return
        from ..engine.curation.edits import merge_clusters

        candidates = [c for c in self.clusters if c.cluster_id not in (cluster_id, -1)]

        def merge(answer: str) -> None:
            parts = answer.replace(" ", ",").split(",")
            try:
                if all(part.isdigit() for part in parts if part):
                    others = [int(part) for part in parts if part]
                else:  # one cluster, by title (titles hold commas)
                    others = [cluster_named(answer, candidates)]
            except ValueError as error:
                self.notify(str(error), severity="error", markup=False)
                return
            self.app.run_edit(
                f"Merged {others} into cluster {cluster_id}",
                lambda ws: merge_clusters(ws, run_id, [cluster_id, *others], reason="TUI"),
            )

        self._ask(
            f"Merge which clusters into cluster {cluster_id}?",
            merge,
            placeholder="ids (3,9), or one cluster's title (right arrow completes it)",
            suggestions=[_titled(c) for c in candidates],
        )

    @unless_typing
    def action_split(self) -> None:
        """Break the highlighted cluster into k parts (k-means on its vectors)."""
        cluster_id, run_id = self._cluster_or_warn(), self.run_id
        if cluster_id is None:
            return
        from ..engine.curation.edits import split_cluster

        def split(answer: str) -> None:
            if not (answer.isascii() and answer.isdigit()) or int(answer) < 2:
                self.notify(
                    f"{one_line(answer)!r}: give a number of parts, 2 or more",
                    severity="error",
                    markup=False,
                )
                return
            k = int(answer)
            self.app.run_edit(
                f"Split cluster {cluster_id} into {k}",
                lambda ws: split_cluster(ws, run_id, cluster_id, k, reason="TUI"),
            )

        self._ask(
            f"Split cluster {cluster_id} into how many parts? The largest keeps its id. "
            'Each part is named by its own key phrases (LLM names: the title and "(part n)").',
            split,
            "2",
        )

    def action_dissolve(self) -> None:
        """Dissolve the highlighted cluster: its queries become noise (-1), after `y`."""
        cluster_id, run_id = self._cluster_or_warn(), self.run_id
        if cluster_id is None:
            return
        if cluster_id == -1:
            self.notify("cluster -1 is already noise", severity="warning")
            return
        from ..engine.curation.edits import delete_cluster

        shown = next((c for c in self.clusters if c.cluster_id == cluster_id), None)
        title = f" ({one_line(shown.title, 60)})" if shown and shown.title else ""
        size = f"{shown.size:,} queries" if shown else "queries"
        self.app.confirm_deletion(
            f"cluster {cluster_id}{title}",
            f"Its {size} become noise (-1); its names and its place in the hierarchy go. "
            "The edit is audited; u undoes it.",
            lambda ws: delete_cluster(ws, run_id, cluster_id, reason="TUI"),
        )

    def action_pictures(self) -> None:
        """Sizes, a map of the clusters (the highlighted one marked) and the language mix."""
        if self.run_id is None:
            return
        from .pictures import PicturesScreen

        self.app.push_screen(PicturesScreen(self.run_id, self.summary_run_id, self.detail_cluster))

    def action_zoom(self) -> None:
        """Cluster just the highlighted cluster or category again, named offline, and open
        the new run when the job is done."""
        tree = self.query_one(Tree)
        node = tree.cursor_node
        if node is None or self.run_id is None or node is tree.root:
            self.notify("Highlight a cluster or a category to zoom into", severity="warning")
            return
        if node.data is not None:
            cluster_ids = [node.data]
        else:
            cluster_ids = sorted(
                n.data for n in _walk(node) if n.data is not None and n.data >= 0
            ) or self._leaves_of(self.categories.get(node.id))
        from ..engine.specs import ClusterStep, JobSpec, SummarizeStep, Within

        size = sum(c.size for c in self.clusters if c.cluster_id in cluster_ids)
        k = zoom_clusters(size)
        if not cluster_ids or size < 2 * k:
            self.notify("Too few queries here to cluster again", severity="warning")
            return
        spec = JobSpec(
            cluster=ClusterStep(
                n_clusters=k, within=Within(run_id=self.run_id, clusters=cluster_ids)
            ),
            summarize=SummarizeStep(model=self._free_namer()),
        )
        self.notify(f"Zooming into {size:,} queries: {k} clusters", markup=False)
        self.app.start_job(spec, open_run=True)

    def _free_namer(self) -> str:
        """The names shown now, for a zoom, when they cost nothing (key phrases or taxonomy
        topics); an LLM's are not asked for unbidden, so key phrases then."""
        shown = next(
            (r.model for r in self.summary_runs if r.summary_run_id == self.summary_run_id), None
        )
        return "taxonomy" if shown == "taxonomy" else "offline"

    def _leaves_of(self, category) -> list[int]:
        """Cluster ids under a hierarchy node (its branch may be collapsed, so unbuilt)."""
        if category is None:
            return []
        children: dict = {}
        for node in self.nodes:
            children.setdefault(node.parent_id, []).append(node)
        found, stack = [], [category]
        while stack:
            node = stack.pop()
            if node.level == 0 and node.cluster_id is not None and node.cluster_id >= 0:
                found.append(node.cluster_id)
            stack.extend(children.get(node.node_id, []))
        return sorted(found)

    @unless_typing
    def action_move(self) -> None:
        table = self.query_one(QueryTable)
        if not table.row_count or self.run_id is None:
            self.notify("Open a cluster and highlight a query to move", severity="warning")
            return
        query_id = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        run_id = self.run_id
        from ..engine.curation.edits import move_queries

        others = [c for c in self.clusters if c.cluster_id != table.cluster_id]

        def move(answer: str) -> None:
            try:
                to = cluster_named(answer, others)
            except ValueError as error:
                self.notify(str(error), severity="error", markup=False)
                return
            self.app.run_edit(
                f"Moved query {query_id} to cluster {to}",
                lambda ws: move_queries(ws, run_id, [query_id], to, "TUI"),
            )

        self._ask(
            f"Move query {query_id} to which cluster?",
            move,
            placeholder="its id, or the start of its title (right arrow completes it)",
            suggestions=[_titled(c) for c in others],
        )

    def action_audit(self) -> None:
        if self.run_id is not None:
            from .audit import AuditScreen

            self.app.push_screen(AuditScreen(self.run_id))

    def _cluster_or_warn(self) -> int | None:
        node = self.query_one(Tree).cursor_node
        if node is None or node.data is None or self.run_id is None:
            self.notify("Highlight a cluster (a leaf of the tree) first", severity="warning")
            return None
        return node.data

    @unless_typing
    def action_focus_filter(self) -> None:
        """Focus at once (`Widget.focus` waits its turn): letters typed right after `f`
        are the filter's (see text_keys)."""
        self.set_focus(self.query_one("#cluster-filter", Input))

    def action_to_tree(self) -> None:
        """Down in the filter (the field ignores it): to the tree, its first match
        highlighted."""
        self.query_one(Tree).focus()

    @on(Input.Submitted, "#cluster-filter")
    def _filter_submitted(self) -> None:
        self.action_to_tree()

    def action_back(self) -> None:
        """Escape closes the innermost thing: the filter (clear it, then leave it), the
        query list or the detail (back to the tree), then the screen."""
        field = self.query_one("#cluster-filter", Input)
        if field.has_focus:
            if field.value:
                field.value = ""
            else:
                self.query_one(Tree).focus()
        elif (
            self.query_one(QueryTable).has_focus
            or self.query_one("#cluster-detail-scroll").has_focus
        ):
            self.query_one(Tree).focus()
        else:
            self.app.switch_mode("runs")


def _titled(cluster: ClusterInfo) -> str:
    """A cluster as a prompt suggests it: its title as the tree shows it (sanitised)."""
    return f"{one_line(cluster.title, 120)} (cluster {cluster.cluster_id})"


def cluster_named(answer: str, clusters: list[ClusterInfo]) -> int:
    """The id of the cluster an answer names: its id, its title as suggested, or the start
    of one title as the tree shows it (case aside); ValueError says why none."""
    answer = answer.strip()
    if answer.lstrip("-").isdigit():
        return int(answer)
    by_title = {_titled(c).lower(): c.cluster_id for c in clusters}
    if answer.lower() in by_title:
        return by_title[answer.lower()]
    starting = {
        c.cluster_id for c in clusters if one_line(c.title, 120).lower().startswith(answer.lower())
    }
    if len(starting) == 1:
        return starting.pop()
    if not starting:
        raise ValueError(f"No cluster's title starts with {answer!r}: type its id or title")
    raise ValueError(f"{len(starting)} clusters' titles start with {answer!r}: type more")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _within(node: TreeNode, ancestor_id: str, parents: dict) -> bool:
    """Whether `ancestor_id` is above `node`, given each node's parent."""
    current = node.parent_id
    while current is not None:
        if current == ancestor_id:
            return True
        current = parents.get(current)
    return False


def _walk(node):
    for child in node.children:
        yield child
        yield from _walk(child)


def _ancestors(node):
    while node.parent is not None:
        node = node.parent
        yield node


def _title_of(node) -> str:
    """A category's title, without the size column."""
    return str(node.label).split(maxsplit=1)[-1]


def zoom_clusters(size: int) -> int:
    """How many clusters a zoom makes of `size` queries: about sqrt(size / 2), 2 to 30."""
    return max(2, min(30, round(math.sqrt(size / 2))))


def _label(title: str, size: int) -> Text:
    """The size first, in a column of its own, so a narrow pane cuts the title, never the
    number; the title through the sanitiser (edits and LLM titles are untrusted)."""
    label = Text(f"{size:>7,} ", style="dim")
    label.append(one_line(title, 120))
    return label


def _undone_message(undone) -> str:
    """What an undo took back: a `merge --title` is two edits undone together."""
    merge_id = undone.target.get("merge_edit_id")
    if merge_id is not None:
        return f"Undid edits {merge_id} and {undone.edit_id} (a merge and its title)"
    return f"Undid edit {undone.edit_id} ({undone.action})"
