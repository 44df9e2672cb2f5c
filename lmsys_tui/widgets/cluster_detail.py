"""The detail pane of a cluster: description, share, language and model mix, examples."""

from __future__ import annotations

from rich.text import Text

from ..engine.browse import ClusterDetail
from ..safe_text import one_line
from ..wording import percent

BAR_WIDTH = 24  # at most; a narrow pane gets shorter bars, never a wrapped share
LABEL_WIDTH = 18
MIX_LINE_EXTRA = 2 + LABEL_WIDTH + 1 + 7  # indent, value, space, " 100.0%"


def render_cluster_detail(
    detail: ClusterDetail,
    tags: list[str] = (),
    lifts: list = (),
    top: int = 5,
    width: int | None = None,
) -> Text:
    """`lifts`: (facet, Lift) pairs clearly over-represented in the cluster; `width`: the
    columns the text has (the mix bars shrink to fit)."""
    bar_width = BAR_WIDTH if not width else max(4, min(BAR_WIDTH, width - MIX_LINE_EXTRA))
    text = Text()
    text.append(one_line(detail.title, 120), style="bold")
    for tag in tags:
        text.append(f"  [{one_line(tag, 20)}]", style="yellow")
    text.append(f"\ncluster {detail.cluster_id} · {detail.size:,} queries · ")
    if detail.unique < detail.size:
        text.append(f"{detail.unique:,} unique · ")
    text.append(f"{detail.share:.1%} of the run\n", style="bold")
    if detail.description:
        text.append(one_line(detail.description, 400) + "\n")
    for name, mix in detail.known_mixes():
        text.append(f"\n{name}\n", style="bold")
        for value, count in mix[:top]:
            share = count / detail.size if detail.size else 0
            bar = "█" * max(1, round(share * bar_width))
            text.append(f"  {one_line(value, LABEL_WIDTH):<{LABEL_WIDTH}} ")
            text.append(f"{bar:<{bar_width}}", style="cyan")
            text.append(f" {share:5.1%}\n")
        if len(mix) > top:
            text.append(f"  … and {len(mix) - top} more\n", style="dim")
    if lifts:
        text.append("\nstands out against the run (lift, 95 % interval)\n", style="bold")
        for by, lift in lifts:
            text.append(f"  {by} {one_line(lift.value, 24)}: ")
            text.append(f"{lift.lift:.1f}x", style="green")
            text.append(
                f" ({lift.lift_low:.1f}-{lift.lift_high:.1f}), {percent(lift.share)} here vs "
                f"{percent(lift.overall_share)} overall\n"
            )
    if detail.representatives:
        text.append("\nrepresentative queries\n", style="bold")
        for query_id, query_text in detail.representatives:
            text.append(f"  {query_id:>8} ", style="dim")
            text.append(one_line(query_text, 100) + "\n")
    return text
