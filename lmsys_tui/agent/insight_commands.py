"""compare and facets: what the runs say beyond their clusters."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..engine.insight.compare import compare_runs
from ..engine.insight.facets import facet_lift
from ..safe_text import one_line
from ..wording import count_of


def compare(ws, out, args) -> int:
    result = compare_runs(ws.con, args.run_a, args.run_b, args.summary_a, args.summary_b)

    def render():
        head = Text(
            f"{result.run_a} vs {result.run_b}: {result.shared_queries:,} shared queries "
            f"({result.only_in_a:,} only in A, {result.only_in_b:,} only in B); "
            f"ARI {result.ari:.3f}, NMI {result.nmi:.3f}"
        )
        matches = Table(
            "A",
            "title in A",
            "size",
            "B",
            "title in B",
            "size",
            "jaccard",
            title=f"matched clusters (one to one, {len(result.matches):,}; strongest first)",
        )
        for match in result.matches[: args.limit]:
            matches.add_row(
                str(match.a.cluster_id),
                Text(one_line(match.a.title, 40)),
                f"{match.a.size:,}",
                str(match.b.cluster_id),
                Text(one_line(match.b.title, 40)),
                f"{match.b.size:,}",
                f"{match.jaccard:.2f}",
            )
        shown = [head, matches]
        for name, groups, other in (
            ("split in B", result.splits, "B"),
            ("merged in B", result.merges, "A"),
        ):
            if not groups:
                continue
            table = Table(
                "cluster",
                "title",
                "size",
                f"parts in {other}",
                title=f"{count_of(len(groups), 'cluster')} {name}",
            )
            for group in groups[: args.limit]:
                parts = "; ".join(
                    f"{p.cluster_id} {one_line(p.title, 30)} {p.share:.0%}" for p in group.parts
                )
                table.add_row(
                    f"{group.cluster.run_id == result.run_a and 'A' or 'B'} "
                    f"{group.cluster.cluster_id}",
                    Text(one_line(group.cluster.title, 40)),
                    f"{group.cluster.size:,}",
                    Text(parts),
                )
            shown.append(table)
        for label, sides in (("A", result.no_counterpart_a), ("B", result.no_counterpart_b)):
            if sides:
                listed = ", ".join(
                    f"{s.cluster_id} {one_line(s.title, 30)} ({s.size:,})"
                    for s in sides[: args.limit]
                )
                shown.append(Text(f"no counterpart in the other run, from {label}: {listed}"))
        return shown

    return out.emit(result.as_dict(), render)


def facets(ws, out, args) -> int:
    lifts = facet_lift(
        ws.con, args.run_id, args.by, args.cluster, args.value, args.summary, args.min_count
    )
    shown_lifts = lifts[: args.limit]
    data = {"run_id": args.run_id, "by": args.by, "lifts": [lift.as_dict() for lift in lifts]}

    def render():
        table = Table(
            "cluster",
            "title",
            args.by,
            "queries",
            "share",
            "overall",
            "lift (95 %)",
            "",
            title=f"{args.by} in {args.run_id}: {len(lifts):,} cluster/value pairs, "
            "strongest first (by the interval's lower bound)",
        )
        for lift in shown_lifts:
            mark = "over" if lift.lift_low > 1 else "under" if lift.lift_high < 1 else ""
            table.add_row(
                str(lift.cluster_id),
                Text(one_line(lift.title, 40)),
                Text(one_line(lift.value, 24)),
                f"{lift.count:,} of {lift.cluster_size:,}",
                f"{lift.share:.1%}",
                f"{lift.overall_share:.1%}",
                f"{lift.lift:.2f}x ({lift.lift_low:.2f}-{lift.lift_high:.2f})",
                Text(mark, style="green" if mark == "over" else "red" if mark else ""),
            )
        return table

    return out.emit(data, render)


def report(ws, out, args) -> int:
    from ..engine.insight.report import write_report

    result = write_report(ws, args.run_id, args.output, args.summary, args.overwrite)
    return out.emit(
        result,
        lambda: Text(
            f"wrote {result.path} ({result.bytes / 1024:,.0f} KiB, {result.clusters:,} "
            f"clusters of {result.run_id}): open it in any browser, it fetches nothing"
        ),
    )
