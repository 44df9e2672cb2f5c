"""What a finished job did, in a few lines a person reads: printed by --run-job and
shown on the Jobs screen. Plain text from the job's result dict; imports nothing heavy."""

from __future__ import annotations

from .wording import count_of


def summary(result: dict, workspace: bool = True) -> str:
    """A few lines a person reads after a job (the first names the workspace, unless
    `workspace` is false)."""
    lines = [f"workspace: {result['data_dir']}"] if workspace else []
    if "load" in result:
        load = result["load"]
        skipped = ", ".join(f"{n:,} {why}" for why, n in sorted(load["skipped"].items()))
        lines.append(
            f"load {load['source']}: read {load['read']:,}, loaded {load['loaded']:,}, "
            f"already there {load['already_loaded']:,}"
            + (f"; skipped {skipped}" if skipped else "")
        )
        lines += [f"  {note}" for note in load["notes"]]
    if "languages" in result:
        found = result["languages"]
        top = ", ".join(f"{name} {n:,}" for name, n in list(found["languages"].items())[:5])
        lines.append(
            f"languages: {found['detected']:,} detected, {found['undetermined']:,} undetermined, "
            f"{found['already_known']:,} given by the source" + (f" ({top})" if top else "")
        )
    if "embed" in result:
        embed = result["embed"]
        lines.append(
            f"embed {embed['space_id']}: {embed['embedded']:,} new vectors, "
            f"{embed['already_embedded']:,} reused ({embed['seconds']:.1f} s)"
        )
    if "cluster" in result:
        run = result["cluster"]
        how = "reused" if run["reused"] else f"{run['seconds']:.1f} s"
        silhouette = run["metrics"].get("silhouette")
        noise = run["metrics"].get("noise_share")
        lines.append(
            f"cluster run {run['run_id']}: {run['n_clusters']} clusters"
            + (f" and {noise:.0%} noise" if noise else "")
            + f" over {run['n_queries']:,} queries ({how})"
            + (f", silhouette {silhouette}" if silhouette is not None else "")
        )
        copies = run["metrics"].get("duplicates")
        if copies:
            lines.append(
                f"  copies: {copies['exact']:,} exact and {copies['near']:,} near-duplicates "
                "(shown once as representatives)"
            )
    if "assign" in result:
        added = result["assign"]
        lines.append(
            f"assign into {added['run_id']}: {added['assigned']:,} queries to their nearest "
            f"clusters, {added['novel']:,} novel (farther than {added['threshold']:.3f})"
            + (
                f"; {added['not_embedded']:,} without a vector yet (add an [embed] step)"
                if added["not_embedded"]
                else ""
            )
        )
        if copies := added.get("copies"):
            lines.append(
                f"  copies in the run now: {copies['exact']:,} exact and {copies['near']:,} "
                "near-duplicates"
            )
    if "summarize" in result:
        summary = result["summarize"]
        named = f"{count_of(summary['summarized'], 'cluster')} named"
        how = "reused" if summary["reused"] else named
        if summary["failed"]:
            how += f", {summary['failed']:,} failed (run the job again to retry them)"
        how += _usage_text(summary["usage"])
        lines.append(f"summarize {summary['summary_run_id']} ({summary['model']}): {how}")
        lines += [f"  {failure}" for failure in summary["failures"][:5]]
    if "hierarchy" in result:
        tree = result["hierarchy"]
        shape = " -> ".join(f"{n:,}" for n in tree["nodes_per_level"])
        largest = tree.get("largest_share") or []
        lines.append(
            f"hierarchy {tree['hierarchy_run_id']}: {shape} nodes by level"
            + (f"; the largest top category holds {largest[-1]:.0%}" if len(largest) > 1 else "")
            + _usage_text(tree.get("usage") or {})
        )
        lines += [f"warning: {warning}" for warning in tree.get("warnings", [])]
    if "export" in result:
        export = result["export"]
        sample = (
            f" (up to {export['per_cluster']:,} per cluster, {export['pick']})"
            if export.get("per_cluster")
            else ""
        )
        lines.append(
            f"export: {export['rows']:,} rows of {export['run_id']}{sample} to {export['path']}"
        )
    lines += [f"warning: {warning}" for warning in result.get("warnings", [])]
    return "\n".join(lines)


def _usage_text(usage: dict) -> str:
    """What an LLM step asked for and cost, or nothing for an offline one."""
    if not usage:
        return ""
    cost = f"${usage['cost']:.4f}"
    if usage.get("unpriced"):  # litellm knows no price: $0 would be a guess
        cost = "no price known" if not usage["cost"] else f"{cost} + replies with no price"
    cached = f", {usage['cache_hits']:,} answers from the cache" if usage.get("cache_hits") else ""
    return (
        f"; {usage['requests']:,} requests, {usage['retries']:,} retries, "
        f"{usage['prompt_tokens'] + usage['completion_tokens']:,} tokens, {cost}{cached}"
    )
