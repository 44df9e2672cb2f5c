"""The TUI and a --run-job process on one data dir: clear messages, nothing corrupted."""

from __future__ import annotations

import subprocess
import sys

from textual.widgets import DataTable, Static

from lmsys_tui.app import make_app
from tests.ui.test_journeys import SIZE, settle

HOLD_WRITE_LOCK = (
    "import sys, time\n"
    "from lmsys_tui.engine.workspace import open_workspace\n"
    "ws = open_workspace(sys.argv[1])\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


async def test_a_batch_job_while_the_tui_is_open_is_refused_cleanly(ui_copy, tmp_path):
    job = tmp_path / "job.toml"
    job.write_text('[cluster]\nn_clusters = 2\nrun_id = "k2"\n')
    app = make_app(ui_copy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "lmsys_tui.cli",
                "--data-dir",
                str(ui_copy),
                "--run-job",
                str(job),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1
        assert "in use by another lmsys-tui process" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.screen.query_one(DataTable).row_count == 1


async def test_a_tui_opened_during_a_batch_job_says_so_and_reopens_after(ui_copy):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(ui_copy)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        app = make_app(ui_copy)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            message = str(app.screen.query_one("#run-detail", Static).render())
            assert "in use by another lmsys-tui process" in message and "Ctrl+R" in message
            assert app.screen.query_one(DataTable).row_count == 0
            holder.communicate("", timeout=30)  # the batch process ends
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert app.screen.query_one(DataTable).row_count == 1
    finally:
        holder.kill()
