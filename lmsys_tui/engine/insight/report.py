"""One self-contained HTML file about a run, to mail to a colleague: the hierarchy, sizes,
titles, what stands out in each cluster, a map of the clusters and the language mix.

No scripts, fonts or images are fetched: charts are inline SVG, styles inline CSS, and
every text from the data is escaped (and stripped of control characters).
"""

from __future__ import annotations

import html
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ...safe_text import strip_controls
from ...wording import percent
from ..browse import (
    TreeNode,
    get_run,
    hierarchy_nodes,
    list_clusters,
    resolve_summary_run,
    shown_node,
)
from ..export import ExportError, latest_hierarchy
from ..workspace import Workspace
from .facets import facet_lift, value_totals
from .pictures import centroid_map, cluster_sizes, language_mix, share_text

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; } td, th { padding: 3px 6px; text-align: left;
  border-bottom: 1px solid #eee; vertical-align: top; } th { background: #f5f5f5; }
.num { text-align: right; font-variant-numeric: tabular-nums; } .dim { color: #777; }
details { margin-left: 1.2em; } summary { cursor: pointer; } .lift { color: #176; }
svg { background: #fafafa; border: 1px solid #eee; }
"""


@dataclass
class ReportResult:
    path: str
    run_id: str
    clusters: int
    bytes: int
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def _e(text) -> str:
    return html.escape(strip_controls(str(text)), quote=True)


def write_report(
    ws: Workspace, run_id: str, path: Path | str, summary: str | None = None, overwrite=False
) -> ReportResult:
    """Write the report of `run_id` to `path` (.html).

    Raises:
        NotFound: an unknown run.
        ExportError: the path exists (without `overwrite`), is not .html, or cannot be
            written.
    """
    started = time.perf_counter()
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ExportError(f"a report is an .html file, not {path.name}")
    if path.exists() and not overwrite:
        raise ExportError(f"{path} exists: pass --overwrite to replace it, or choose another")
    con = ws.con
    run = get_run(con, run_id)
    summary_run_id = resolve_summary_run(con, run_id, summary)
    hierarchy_run_id = latest_hierarchy(con, run_id, summary_run_id) if summary_run_id else None
    if hierarchy_run_id is None and summary is None:  # the names that have a hierarchy
        newest = con.execute(
            "SELECT hierarchy_run_id, summary_run_id FROM hierarchy_runs WHERE run_id = ? "
            "AND status = 'complete' ORDER BY created_at DESC LIMIT 1",
            [run_id],
        ).fetchall()
        if newest:
            hierarchy_run_id, summary_run_id = newest[0]
    clusters = list_clusters(con, run_id, summary_run_id)
    stands_out = _stands_out(con, run_id, summary_run_id)
    body = [
        f"<h1>{_e(run.run_id)}</h1>",
        f"<p class=dim>{_e(run.algorithm)}, {run.n_clusters:,} clusters over "
        f"{run.n_queries:,} queries, embedded with {_e(run.embedding_model)}; "
        f"names: {_e(summary_run_id or 'none')}; hierarchy: {_e(hierarchy_run_id or 'none')}; "
        f"made {run.created_at:%Y-%m-%d %H:%M}.</p>",
    ]
    if run.description:
        body.append(f"<p>{_e(run.description)}</p>")
    if hierarchy_run_id:
        body += ["<h2>Categories</h2>", _hierarchy(con, hierarchy_run_id, stands_out)]
    body += ["<h2>Cluster sizes</h2>", _size_chart(cluster_sizes(con, run_id))]
    body += [
        "<h2>Map of the clusters</h2>",
        "<p class=dim>Centroids projected by PCA; the area of a dot is the cluster's size. "
        "Hover for the title.</p>",
        _map(centroid_map(con, run_id, summary_run_id)),
    ]
    body += ["<h2>Languages by category</h2>", _mix_table(con, run_id, hierarchy_run_id, summary)]
    body += ["<h2>Clusters</h2>", _cluster_table(clusters, run.n_queries, stands_out)]
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(run_id)} — lmsys-tui report</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}<p class=dim>Written by lmsys-tui.</p></body></html>"
    )
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, path)
    except BaseException as error:  # a full disk, Ctrl-C: no half page left behind
        partial.unlink(missing_ok=True)
        if not isinstance(error, OSError):
            raise
        raise ExportError(f"cannot write {path}: {error.strerror}") from None
    return ReportResult(
        str(path), run_id, len(clusters), path.stat().st_size, time.perf_counter() - started
    )


def _stands_out(con, run_id: str, summary_run_id: str | None) -> dict[int, list[str]]:
    """Per cluster: model and language values clearly over-represented (Lift.stands_out)."""
    found: dict[int, list[str]] = {}
    for by in ("model", "language"):
        totals = value_totals(con, run_id, by)
        for lift in facet_lift(con, run_id, by, summary=summary_run_id, totals=totals):
            if lift.stands_out:
                shown = found.setdefault(lift.cluster_id, [])
                if len(shown) < 4:
                    shown.append(
                        f"{by} {lift.value}: {lift.lift:.1f}x ({percent(lift.share)} vs "
                        f"{percent(lift.overall_share)})"
                    )
    return found


def _hierarchy(con, hierarchy_run_id: str, stands_out: dict[int, list[str]]) -> str:
    nodes = hierarchy_nodes(con, hierarchy_run_id)
    children: dict[str | None, list] = {}
    for node in nodes:
        children.setdefault(node.parent_id, []).append(node)
    total = sum(n.size for n in children.get(None, [])) or 1

    def render(node) -> str:
        node = shown_node(node, children)
        label = f"{_e(node.title)} <span class=dim>({node.size:,}, {node.size / total:.1%})</span>"
        if node.cluster_id is not None:
            extra = "; ".join(stands_out.get(node.cluster_id, []))
            lift = f" <span class=lift>{_e(extra)}</span>" if extra else ""
            return f"<li>{label}{lift}</li>"
        inner = "".join(
            render(child) for child in sorted(children.get(node.node_id, []), key=TreeNode.order)
        )
        return f"<li><details><summary>{label}</summary><ul>{inner}</ul></details></li>"

    tops = sorted(children.get(None, []), key=TreeNode.order)
    return "<ul>" + "".join(render(top) for top in tops) + "</ul>"


def _size_chart(sizes: list[int], width: int = 1000, height: int = 160) -> str:
    if not sizes:
        return "<p class=dim>no clusters</p>"
    bar = width / len(sizes)
    top = max(sizes)
    rects = "".join(
        f'<rect x="{i * bar:.2f}" y="{height - size / top * (height - 10):.2f}" '
        f'width="{max(bar - 1, 0.5):.2f}" height="{size / top * (height - 10):.2f}" '
        f'fill="#4a7"><title>{size:,}</title></rect>'
        for i, size in enumerate(sizes)
    )
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="cluster sizes">{rects}</svg>'
        f"<p class=dim>{len(sizes):,} clusters, largest {top:,}, median "
        f"{sorted(sizes)[len(sizes) // 2]:,}, smallest {min(sizes):,}.</p>"
    )


def _map(points, width: int = 1000, height: int = 520) -> str:
    if not points:
        return "<p class=dim>no centroids</p>"
    xs = [p.x for p in points]
    ys = [p.y for p in points]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    biggest = max(p.size for p in points) or 1
    dots = []
    for p in points:
        cx = 20 + (p.x - min(xs)) / span_x * (width - 40)
        cy = 20 + (p.y - min(ys)) / span_y * (height - 40)
        radius = 2 + 14 * math.sqrt(p.size / biggest)
        dots.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" fill="#27a" '
            f'fill-opacity="0.45"><title>{p.cluster_id}: {_e(p.title)} ({p.size:,})</title>'
            "</circle>"
        )
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="map of the clusters">'
        f"{''.join(dots)}</svg>"
    )


def _mix_table(con, run_id: str, hierarchy_run_id: str | None, summary: str | None) -> str:
    mix = language_mix(con, run_id, hierarchy_run_id, summary)
    head = "".join(f"<th class=num>{_e(language)}</th>" for language in mix.languages)
    rows = []
    for title, counts in zip(mix.categories, mix.counts, strict=True):
        total = int(counts.sum()) or 1
        cells = "".join(
            f'<td class=num style="background: rgba(34,119,170,{n / total * 0.8:.2f})">'
            f"{share_text(n, total)}</td>"
            for n in counts
        )
        rows.append(f"<tr><td>{_e(title)} <span class=dim>({total:,})</span></td>{cells}</tr>")
    return f"<table><tr><th>{mix.row}</th>{head}</tr>{''.join(rows)}</table>"


def _cluster_table(clusters, n_queries: int, stands_out: dict[int, list[str]]) -> str:
    rows = []
    for c in clusters:
        extra = "<br>".join(_e(line) for line in stands_out.get(c.cluster_id, []))
        rows.append(
            f"<tr><td class=num>{c.cluster_id}</td><td>{_e(c.title)}</td>"
            f"<td class=num>{c.size:,}</td><td class=num>{c.size / max(n_queries, 1):.1%}</td>"
            f"<td>{_e(c.description or '')}</td><td class=lift>{extra}</td></tr>"
        )
    return (
        "<table><tr><th>id</th><th>title</th><th class=num>size</th><th class=num>share</th>"
        f"<th>description</th><th>stands out</th></tr>{''.join(rows)}</table>"
    )
