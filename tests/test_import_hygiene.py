"""The engine and --run-job never import Textual; heavy libraries load only when used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["textual", "torch", "sentence_transformers", "litellm", "faiss", "hdbscan", "datasets"]


def imported_after(code: str) -> dict[str, bool]:
    probe = (
        f"{code}\nimport sys, json\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_engine_and_batch_path_import_nothing_heavy():
    loaded = imported_after(
        "import lmsys_tui.cli, lmsys_tui.batch, lmsys_tui.status, lmsys_tui.engine.jobs"
    )
    assert not any(loaded.values()), loaded


def test_engine_search_modules_import_nothing_heavy():
    loaded = imported_after(
        "import lmsys_tui.engine.retrieval.search, lmsys_tui.engine.retrieval.index, "
        "lmsys_tui.engine.browse"
    )
    assert not any(loaded.values()), loaded


def test_starting_the_tui_imports_no_model_or_llm_library():
    loaded = imported_after("import lmsys_tui.app")
    assert loaded["textual"]
    heavy = {name for name, present in loaded.items() if present and name != "textual"}
    assert not heavy, heavy


def test_the_tui_draws_its_first_screen_before_importing_duckdb():
    """The Runs screen is drawn first; DuckDB, numpy and the other screens come after."""
    code = (
        "import sys, lmsys_tui.app\n"
        "print(sorted(m for m in ('duckdb', 'numpy', 'pydantic', 'lmsys_tui.screens.clusters',"
        " 'lmsys_tui.screens.jobs', 'lmsys_tui.screens.search') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_semantic_search_from_the_cli_needs_no_torch(embedded_workspace):
    """Agents call `search` in loops: the ONNX export answers without importing torch."""
    root, _ = embedded_workspace
    code = (
        "import sys\nfrom lmsys_tui.cli import main\n"
        f"sys.argv = ['lmsys-tui', '--data-dir', {str(root)!r}, 'search', 'cookie recipe',"
        " '--mode', 'semantic', '-n', '1', '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code + "\nimport sys, json\n"
            "print(json.dumps({m: m in sys.modules for m in ['torch', 'sentence_transformers']}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"torch": False, "sentence_transformers": False}
    hits = json.loads("\n".join(lines[:-1]))["hits"]
    assert "cookies" in hits[0]["snippet"]
