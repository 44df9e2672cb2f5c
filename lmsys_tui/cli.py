"""The `lmsys-tui` entry point: the TUI, agent subcommands, or `--run-job FILE` headless."""

from __future__ import annotations

import argparse
import re
import sys

from . import __version__
from .locations import HOME_VARIABLE, data_dir

# Subcommands that change the workspace open it for writing; the rest read it.
WRITING_COMMANDS = {"edit", "delete-run", "delete-summary", "delete-space"}
RUN_HELP = "a run id, or latest (the newest run)"


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1 (`-n -1` once returned 298 hits)."""
    return _at_least(text, 1)


def _count(text: str) -> int:
    """An argparse type: how many rows to list, 0 for none (`--queries -5` once ended in
    DuckDB's "LIMIT/OFFSET cannot be negative")."""
    return _at_least(text, 0)


def _at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {minimum} or more, got {value}")
    return value


def _common(parser: argparse.ArgumentParser, default=None) -> None:
    """--data-dir and --json, accepted before or after the subcommand."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help=f"workspace folder (default: ${HOME_VARIABLE}, else the user data dir)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default if default is not None else False,
        help="print exactly one JSON document on stdout",
    )


def _optional_run(parser: argparse.ArgumentParser) -> None:
    """A run id that may be left out: the newest run, as `latest` (any run id takes it)."""
    parser.add_argument("run_id", nargs="?", default="latest", help=RUN_HELP + "; the default")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmsys-tui",
        description="Explore what people ask LLMs: load chat logs, embed, cluster, browse. "
        "Without a command: the TUI on a terminal, else the workspace summary.",
    )
    _common(parser)
    parser.add_argument("--run-job", metavar="FILE", help="run a TOML job file headless")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="with --run-job: print what each step would do and cost, then stop",
    )
    parser.add_argument("--version", action="version", version=f"lmsys-tui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _common(sub, default=argparse.SUPPRESS)
        return sub

    command("tui", "open the terminal UI")
    command("status", "what the workspace holds: sources, spaces, runs, summaries")

    sub = command("runs", "clustering runs with their summary runs and hierarchies")
    sub.add_argument("--latest", action="store_true", help="only the newest run")

    sub = command("clusters", "a run's clusters with titles, sizes and tags")
    _optional_run(sub)
    sub.add_argument("--summary", metavar="ALIAS|ID", help="summary run (default: newest)")
    sub.add_argument("--limit", type=_positive, metavar="N")
    sub.add_argument(
        "--examples", type=_count, default=0, metavar="K", help="K queries closest to each centroid"
    )
    sub.add_argument("--sort", choices=["size", "title"], default="size")

    sub = command("inspect", "one cluster: summary, language and model mix, queries")
    _optional_run(sub)  # `inspect 3` is cluster 3 of the newest run
    sub.add_argument("cluster_id", type=int)
    sub.add_argument("--queries", type=_count, default=20, metavar="N", help="queries to list")
    sub.add_argument("--summary", metavar="ALIAS|ID")

    sub = command("query", "one query: text, metadata, cluster in every run, neighbours")
    sub.add_argument("query_id", type=int)
    sub.add_argument("--neighbours", type=_count, default=10, metavar="N")
    sub.add_argument("--run-id", help="run whose space the neighbours come from")

    sub = command("hierarchy", "a run's hierarchy of categories as a tree")
    _optional_run(sub)
    sub.add_argument("--id", help="hierarchy run id (default: newest of the summary run)")
    sub.add_argument("--summary", metavar="ALIAS|ID")

    sub = command("compare", "two runs: ARI/NMI, matched clusters, splits, merges")
    sub.add_argument("run_a", help=RUN_HELP)
    sub.add_argument("run_b", help=RUN_HELP)
    sub.add_argument("--summary-a", metavar="ALIAS|ID")
    sub.add_argument("--summary-b", metavar="ALIAS|ID")
    sub.add_argument("--limit", type=_positive, default=20, metavar="N", help="rows per list")

    sub = command("facets", "what sets clusters apart: facet values over/under-represented")
    _optional_run(sub)
    sub.add_argument(
        "--by", required=True, help="model, language, source, turn, flagged, or a field of the data"
    )
    sub.add_argument("--cluster", type=int, help="only this cluster's values")
    sub.add_argument("--value", help="only this value: clusters ranked by its lift")
    sub.add_argument("--min-count", type=_positive, default=1, metavar="N")
    sub.add_argument("--limit", type=_positive, default=20, metavar="N")
    sub.add_argument("--summary", metavar="ALIAS|ID")

    sub = command("report", "one self-contained HTML file about a run, to share")
    _optional_run(sub)
    sub.add_argument("--output", "-o", required=True, metavar="FILE.html")
    sub.add_argument("--summary", metavar="ALIAS|ID")
    sub.add_argument("--overwrite", action="store_true", help="replace an existing file")

    sub = command("search", "search queries: semantic, keyword or hybrid, with filters")
    sub.add_argument("text")
    sub.add_argument("--run-id", help="run to search in (default: latest, the newest)")
    sub.add_argument("--mode", choices=["semantic", "keyword", "hybrid"], default="hybrid")
    sub.add_argument(
        "--within-clusters",
        metavar="TEXT",
        help="only inside the clusters whose summaries match TEXT",
    )
    sub.add_argument("--top-clusters", type=_positive, default=3, metavar="N")
    sub.add_argument("--cluster-ids", metavar="1,2")
    sub.add_argument("--language")
    sub.add_argument("--model")
    sub.add_argument("--facets", default="cluster,language,model", metavar="cluster,...")
    sub.add_argument("--summary", metavar="ALIAS|ID")
    sub.add_argument("-n", type=_positive, default=20, help="hits to show (1 or more)")

    sub = command("search-clusters", "clusters whose summaries match a text")
    sub.add_argument("text")
    sub.add_argument("--run-id", help="run to search in (default: latest, the newest)")
    sub.add_argument("--summary", metavar="ALIAS|ID")
    sub.add_argument("-k", type=_positive, default=10, help="clusters to show (1 or more)")

    sub = command("export", "a run, one row per query, to .csv .json .jsonl or .parquet")
    _optional_run(sub)
    sub.add_argument("--output", "-o", required=True, metavar="FILE")
    sub.add_argument("--summary", metavar="ALIAS|ID")
    sub.add_argument("--hierarchy", metavar="ID")
    sub.add_argument("--overwrite", action="store_true", help="replace an existing file")
    sub.add_argument(
        "--per-cluster",
        type=_positive,
        metavar="N",
        help="a sample: up to N texts of each cluster, copies left out",
    )
    sub.add_argument(
        "--pick",
        choices=["random", "nearest"],
        default="random",
        help="with --per-cluster: at random (--seed), or nearest the centroid",
    )
    sub.add_argument("--seed", type=int, default=42, help="with --pick random")

    _optional_run(command("verify", "DuckDB vs vector files vs indexes; exit 1 when they disagree"))
    sub = command("delete-run", "delete a run with its names, hierarchies and edits, for good")
    sub.add_argument("run", metavar="RUN_ID", help="the run's id (lmsys-tui runs lists them)")
    sub = command(
        "delete-summary", "delete one set of a run's names with the hierarchies built on them"
    )
    sub.add_argument(
        "summary", metavar="SUMMARY_RUN_ID", help="its id, or its alias (lmsys-tui runs)"
    )
    sub = command("delete-space", "delete an embedding space: its vectors, indexes and encoder")
    sub.add_argument("space", metavar="SPACE_ID", help="the space's id (lmsys-tui status)")
    sub.add_argument(
        "--with-runs", action="store_true", help="also delete the runs clustered in it"
    )
    sub = command("audit", "every curation edit of a run")
    _optional_run(sub)
    sub.add_argument("--cluster", type=int, help="only edits touching this cluster")
    sub.add_argument("--since", metavar="DATE", help="only edits from this date or time on")

    sub = command(
        "edit", "curate a run: rename, move, merge, split, delete, tag, undo (each one audited)"
    )
    actions = sub.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        edit = actions.add_parser(name, help=help_text, description=help_text)
        _common(edit, default=argparse.SUPPRESS)
        edit.add_argument("run_id", help=RUN_HELP)
        return edit

    rename = action("rename", "give a cluster a new title")
    rename.add_argument("cluster_id", type=int)
    rename.add_argument("--title", required=True)
    rename.add_argument("--description")
    rename.add_argument("--summary", metavar="ALIAS|ID")
    move = action("move", "move queries to another cluster")
    move.add_argument("--query-ids", required=True, metavar="1,2")
    move.add_argument("--to", type=int, required=True, metavar="CLUSTER_ID")
    merge = action("merge", "merge clusters into one (--into, default the first one named)")
    merge.add_argument("--clusters", required=True, metavar="3,9")
    merge.add_argument("--into", type=int, metavar="CLUSTER_ID")
    merge.add_argument("--title", help="default: key-phrase names made again from all its queries")
    split = action("split", "re-cluster one cluster into k with k-means on its vectors")
    split.add_argument("cluster_id", type=int)
    split.add_argument("--k", type=int, default=2)
    split.add_argument("--seed", type=int, default=42)
    delete = action("delete", "dissolve a cluster: its queries become noise (-1)")
    delete.add_argument("cluster_id", type=int)
    tag = action("tag", "tag a cluster: good, bad, pii, or any word")
    tag.add_argument("cluster_id", type=int)
    tag.add_argument("--tag", required=True)
    tag.add_argument("--note")
    action("undo", "reverse the run's newest edit, as audited edits")
    for edit in (rename, move, merge, split, delete, tag):
        edit.add_argument("--reason", help="why: kept in the audit trail")
    return parser


ID_LIST_OPTIONS = ("--clusters", "--query-ids", "--cluster-ids", "--within-clusters")


def _join_negative_lists(argv: list[str]) -> list[str]:
    """`--clusters -1,10` reads as an option name to argparse; join it to `--clusters=-1,10`."""
    joined: list[str] = []
    for token in argv:
        if joined and joined[-1] in ID_LIST_OPTIONS and re.fullmatch(r"-\d[\d,\s-]*", token):
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


def main(argv: list[str] | None = None) -> int:
    argv = _join_negative_lists(sys.argv[1:] if argv is None else list(argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dry_run and not args.run_job:
        parser.error("--dry-run goes with --run-job FILE")
    workspace = data_dir(args.data_dir)
    if args.run_job:
        from .batch import run_job_file

        return run_job_file(args.run_job, workspace, args.json, dry_run=args.dry_run)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if args.command == "tui" or (args.command is None and interactive and not args.json):
        from .app import make_app

        make_app(workspace).run()
        return 0
    if args.command in (None, "status"):
        from .status import print_status

        return print_status(workspace, args.json)
    from .agent.run import run_command

    return run_command(args, workspace, write=args.command in WRITING_COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
