"""Dispatch a parsed subcommand: open the workspace, run it, turn errors into exit codes."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import duckdb

from ..engine.browse import LATEST, newest_run_id
from ..engine.errors import failure_line, is_interruption
from ..engine.workspace import open_workspace
from .output import Output

# Each command's module is imported when it runs: a call pays only for what it uses
# (agents call these in loops; verify and edit pull in more than runs or search).
HANDLERS = {
    "runs": "browse_commands:runs",
    "clusters": "browse_commands:clusters",
    "inspect": "browse_commands:inspect",
    "query": "browse_commands:query",
    "hierarchy": "browse_commands:hierarchy",
    "compare": "insight_commands:compare",
    "facets": "insight_commands:facets",
    "report": "insight_commands:report",
    "search": "search_commands:search",
    "search-clusters": "search_commands:search_clusters",
    "export": "data_commands:export",
    "verify": "data_commands:verify",
    "delete-run": "data_commands:delete_run",
    "delete-summary": "data_commands:delete_summary",
    "delete-space": "data_commands:delete_space",
    "edit": "edit_commands:edit",
    "audit": "edit_commands:audit",
}


def handler(command: str):
    module, function = HANDLERS[command].split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


RUN_ARGUMENTS = ("run_id", "run_a", "run_b")  # where a command takes a clustering run


def _name_latest_run(args: argparse.Namespace, con: duckdb.DuckDBPyConnection) -> None:
    """Every run argument given as `latest` becomes the newest complete run's id."""
    for name in RUN_ARGUMENTS:
        if getattr(args, name, None) == LATEST:
            setattr(args, name, newest_run_id(con))


def run_command(args: argparse.Namespace, workspace: Path, write: bool) -> int:
    out = Output(args.json)
    try:
        # An edit never creates a workspace: a mistyped --data-dir is an error, not a new one.
        with open_workspace(workspace, read_only=not write, create=False) as ws:
            if not write and not ws.con.execute("SELECT count(*) FROM queries").fetchall()[0][0]:
                return out.fail(f"the workspace {workspace} is empty: load data with --run-job")
            _name_latest_run(args, ws.con)
            return handler(args.command)(ws, out, args)
    except BaseException as error:
        if is_interruption(error):  # Ctrl-C, also inside a DuckDB query
            return out.fail("interrupted: no edit or file was left half done", code=130)
        if isinstance(error, ValueError):  # a bad argument a handler found
            return out.fail(error)
        message = failure_line(error)
        if message is None:
            raise
        return out.fail(message)
