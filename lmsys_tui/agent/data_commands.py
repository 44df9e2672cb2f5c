"""export, verify, delete-run, delete-summary and delete-space."""

from __future__ import annotations

from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from ..engine.browse import LATEST
from ..engine.deletion import delete_run as delete
from ..engine.deletion import delete_space as delete_a_space
from ..engine.deletion import delete_summary_run
from ..engine.export import SAMPLE_OPTIONS, export_run
from ..engine.verify import verify_run

VERIFY_FAILED = 1


def export(ws, out, args) -> int:
    sample = {option: getattr(args, option) for option in SAMPLE_OPTIONS}
    result = export_run(
        ws, args.run_id, args.output, args.summary, args.hierarchy, args.overwrite, **sample
    )
    sample = f", up to {result.per_cluster:,} per cluster, {result.pick}" if result.pick else ""
    return out.emit(
        result,
        lambda: Text(
            f"wrote {result.rows:,} rows of {result.run_id} to {result.path} "
            f"(summaries {result.summary_run_id or '-'}, "
            f"hierarchy {result.hierarchy_run_id or '-'}{sample})"
        ),
    )


def verify(ws, out, args) -> int:
    report = verify_run(ws, args.run_id)

    def render():
        shown = Table(
            "check",
            "ok",
            "expected",
            "found",
            "detail",
            title=f"{report.run_id} in {report.space_id}",
        )
        for check in report.checks:
            shown.add_row(
                check.name,
                "yes" if check.ok else Text("NO", style="bold red"),
                "-" if check.expected is None else f"{check.expected:,}",
                "-" if check.found is None else f"{check.found:,}",
                Text(check.detail),
            )
        fixes = sorted({check.fix for check in report.checks if check.fix})
        return [shown, *(Text(f"to fix: {fix}") for fix in fixes)]

    out.emit(report.as_dict(), render)
    return 0 if report.ok else VERIFY_FAILED


def delete_run(ws, out, args) -> int:
    if args.run == LATEST:  # what `latest` names changes as runs come and go
        return out.fail("delete-run takes a run's id, not latest (lmsys-tui runs lists them)")
    deleted = delete(ws, args.run)
    return out.emit(
        deleted.as_dict(), lambda: Text(f"deleted run {deleted.run_id}: {deleted.describe()}")
    )


def delete_summary(ws, out, args) -> int:
    deleted = delete_summary_run(ws, args.summary)
    return out.emit(
        deleted.as_dict(),
        lambda: Text(f"deleted summary run {deleted.summary_run_id}: {deleted.describe()}"),
    )


def delete_space(ws, out, args) -> int:
    deleted = delete_a_space(ws, args.space, with_runs=args.with_runs)

    def render():
        runs = ", ".join(run.run_id for run in deleted.runs)
        with_runs = f" and {len(deleted.runs)} run(s): {runs}" if deleted.runs else ""
        return Text(
            f"deleted space {deleted.space_id} ({deleted.model}, {deleted.vectors:,} vectors)"
            f"{with_runs}; {decimal(deleted.freed_bytes)} of files freed"
        )

    return out.emit(deleted.as_dict(), render)
