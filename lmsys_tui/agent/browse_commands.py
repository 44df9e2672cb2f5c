"""runs, clusters, inspect, query, hierarchy: read a workspace."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..engine.browse import (
    NotFound,
    TreeNode,
    check_hierarchy_of_run,
    cluster_detail,
    cluster_queries,
    get_run,
    hierarchy_nodes,
    list_clusters,
    list_runs,
    query_detail,
    resolve_summary_run,
    shown_node,
)
from ..engine.curation.audit import cluster_tags
from ..engine.export import latest_hierarchy
from ..query_cells import hit_text_cell, query_cells
from ..safe_text import one_line, printable
from ..wording import count_of
from .output import filled_table, notes_to_stderr


def runs(ws, out, args) -> int:
    found = list_runs(ws.con)
    if args.latest:
        found = found[:1]

    def table():
        if not found:  # none yet, or all deleted: a list, empty, not an error
            return Text("no clustering runs: run a job with a [cluster] step")
        shown = Table(
            "run",
            "algorithm",
            "clusters",
            "queries",
            "model",
            "created",
            "edited",
            "summaries",
            "hierarchies",
        )
        for run in found:
            shown.add_row(
                Text(run.run_id),
                run.algorithm,
                f"{run.n_clusters:,}",
                f"{run.n_queries:,}",
                Text(run.embedding_model),
                f"{run.created_at:%Y-%m-%d %H:%M}",
                f"{run.edited_at:%Y-%m-%d %H:%M}" if run.edited_at else "-",
                Text(
                    ", ".join(s.shown_as(s.alias or s.summary_run_id) for s in run.summary_runs)
                    or "-"
                ),
                Text(", ".join(h.hierarchy_run_id for h in run.hierarchies) or "-"),
            )
        return shown

    return out.emit({"runs": found}, table)


def clusters(ws, out, args) -> int:
    get_run(ws.con, args.run_id)
    summary_run_id = resolve_summary_run(ws.con, args.run_id, args.summary)
    found = list_clusters(ws.con, args.run_id, summary_run_id, args.sort)
    if args.limit:
        found = found[: args.limit]
    tags = cluster_tags(ws.con, args.run_id)
    rows = []
    for cluster in found:
        examples = (
            [
                {"query_id": row.query_id, "text": row.text}
                for row in cluster_queries(
                    ws.con, args.run_id, cluster.cluster_id, 0, args.examples
                )
            ]
            if args.examples
            else []
        )
        rows.append(
            {**vars(cluster), "tags": tags.get(cluster.cluster_id, []), "examples": examples}
        )

    def table():
        shown = Table("cluster", "size", "unique", "title", "tags", "description")
        for row in rows:
            description = one_line(row["description"], 80)
            for example in row["examples"]:
                description += "\n  · " + one_line(example["text"], 76)
            shown.add_row(
                str(row["cluster_id"]),
                f"{row['size']:,}",
                f"{row['unique']:,}",
                Text(one_line(row["title"], 50)),
                Text(", ".join(row["tags"])),
                Text(description),
            )
        return shown

    data = {"run_id": args.run_id, "summary_run_id": summary_run_id, "clusters": rows}
    return out.emit(data, table)


def inspect(ws, out, args) -> int:
    get_run(ws.con, args.run_id)
    summary_run_id = resolve_summary_run(ws.con, args.run_id, args.summary)
    detail = cluster_detail(ws.con, args.run_id, args.cluster_id, summary_run_id)
    queries = cluster_queries(ws.con, args.run_id, args.cluster_id, 0, args.queries, 10_000)
    tags = cluster_tags(ws.con, args.run_id).get(args.cluster_id, [])
    data = {"summary_run_id": summary_run_id, "cluster": detail, "tags": tags, "queries": queries}

    def render():
        head = Text()
        head.append(one_line(detail.title, 120) + "\n", style="bold")
        head.append(
            f"cluster {detail.cluster_id} of {detail.run_id}: {detail.size:,} queries "
            f"({detail.unique:,} unique), {detail.share:.1%} of the run\n"
        )
        head.append(one_line(detail.description, 400))
        for name, mix in detail.known_mixes():
            head.append(f"\n{name}: " + ", ".join(f"{v} {n}" for v, n in mix[:6]))
        if tags:
            head.append("\ntags: " + ", ".join(tags))
        # As in the TUI: a column no row fills (no model in the data, no copies) is left out.
        # The id column is headed "query", as in `search`.
        cells = {"query" if k == "query_id" else k: f for k, f in query_cells(100).items()}
        return [head, filled_table(queries, cells, ("model", "language", "copies"))]

    return out.emit(data, render)


def query(ws, out, args) -> int:
    from ..engine.retrieval.search import Searcher

    detail = query_detail(ws.con, args.query_id)
    neighbours = []
    if args.neighbours:
        run_id = args.run_id or (detail.clusters[0].run_id if detail.clusters else None)
        neighbours = Searcher(ws, run_id=run_id, progress=notes_to_stderr()).similar(
            args.query_id, n=args.neighbours
        )
    data = {"query": detail, "neighbours": neighbours}

    def render():
        meta = Table.grid(padding=(0, 2))
        for name in ("query_id", "conversation_id", "source", "model", "language", "turn"):
            value = getattr(detail, name)
            cell = "-" if value is None else one_line(str(value), 100)
            meta.add_row(Text(name, style="bold"), Text(cell))
        for key, value in sorted(detail.extra.items()):  # the source's other fields, as the TUI
            meta.add_row(
                Text(one_line(key, 30), style="bold"),
                Text(one_line(json.dumps(value, ensure_ascii=False), 100)),
            )
        for membership in detail.clusters:
            copies = membership.copies
            meta.add_row(
                Text(membership.run_id, style="bold"),
                Text(
                    f"cluster {membership.cluster_id}: {one_line(membership.title, 80)}"
                    + (f" ({count_of(copies, 'copy', 'copies')} in this run)" if copies else "")
                ),
            )
        shown = Table("neighbour", "similarity", "cluster", "text")
        for hit in neighbours:
            shown.add_row(
                str(hit.query_id),
                f"{hit.score:.3f}",
                str(hit.cluster_id),
                hit_text_cell(hit, 100),
            )
        return [meta, Text(printable(detail.text)), *([shown] if neighbours else [])]

    return out.emit(data, render)


def hierarchy(ws, out, args) -> int:
    get_run(ws.con, args.run_id)
    summary_run_id = resolve_summary_run(ws.con, args.run_id, args.summary)
    if args.id:
        check_hierarchy_of_run(ws.con, args.run_id, args.id)
    hierarchy_run_id = args.id or latest_hierarchy(ws.con, args.run_id, summary_run_id)
    if hierarchy_run_id is None:
        raise NotFound(f"run {args.run_id} has no hierarchy: add a [hierarchy] step")
    nodes = hierarchy_nodes(ws.con, hierarchy_run_id)
    if not any(node for node in nodes if node.level == 0):
        raise NotFound(f"no hierarchy {hierarchy_run_id!r}")
    children: dict = {}
    for node in nodes:
        children.setdefault(node.parent_id, []).append(node)

    def nested(node) -> dict:
        return {
            "node_id": node.node_id,
            "level": node.level,
            "title": node.title,
            "size": node.size,
            "cluster_id": node.cluster_id,
            "children": [nested(child) for child in children.get(node.node_id, [])],
        }

    top = [nested(node) for node in children.get(None, [])]
    data = {"run_id": args.run_id, "hierarchy_run_id": hierarchy_run_id, "nodes": top}

    def render():
        tree = Tree(Text(f"{hierarchy_run_id} ({args.run_id})", style="bold"))

        def add(branch, node: TreeNode):
            node = shown_node(node, children)  # a lone child in its category's place
            label = Text(one_line(node.title, 80))
            label.append(f"  {node.size:,}", style="dim")
            if node.cluster_id is not None:
                label.append(f"  [cluster {node.cluster_id}]", style="dim")
            sub = branch.add(label)
            for child in children.get(node.node_id, []):
                add(sub, child)

        for node in children.get(None, []):
            add(tree, node)
        return tree

    return out.emit(data, render)
