"""export and verify."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..engine.export import export_run
from ..engine.verify import verify_run

VERIFY_FAILED = 1


def export(ws, out, args) -> int:
    result = export_run(
        ws, args.run_id, args.output, args.summary, args.hierarchy, overwrite=args.overwrite
    )
    return out.emit(
        result,
        lambda: Text(
            f"wrote {result.rows:,} rows of {result.run_id} to {result.path} "
            f"(summaries {result.summary_run_id or '-'}, "
            f"hierarchy {result.hierarchy_run_id or '-'})"
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
