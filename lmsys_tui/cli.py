"""The `lmsys-tui` entry point: the TUI, `status`, or `--run-job FILE` headless."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .locations import HOME_VARIABLE, data_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmsys-tui",
        description="Explore what people ask LLMs: load chat logs, embed, cluster, browse.",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"workspace folder (default: ${HOME_VARIABLE}, else the user data dir)",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["tui", "status"],
        help="tui (default on a terminal) or status: print the workspace summary",
    )
    parser.add_argument("--run-job", metavar="FILE", help="run a TOML job file headless")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--version", action="version", version=f"lmsys-tui {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    workspace = data_dir(args.data_dir)
    if args.run_job:
        from .batch import run_job_file

        return run_job_file(args.run_job, workspace, args.json)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if args.command == "tui" or (args.command is None and interactive and not args.json):
        from .app import make_app

        make_app(workspace).run()
        return 0
    from .status import print_status

    return print_status(workspace, args.json)


if __name__ == "__main__":
    sys.exit(main())
