"""A small deterministic workspace for the TUI and CLI tests: fixed ids and clocks, hostile
texts included.

Vectors come from `WordHashEmbedder` (pure numpy), so clusters, scores and snapshots are
the same on every machine; it is registered as the space's model for in-process searches.
"""

from __future__ import annotations

from lmsys_tui.engine.clustering.runs import cluster_space
from lmsys_tui.engine.embedding.embed import embed_queries
from lmsys_tui.engine.hierarchy.build import build_hierarchy
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.naming.summarize import summarize_run
from lmsys_tui.engine.retrieval.index import update_indexes
from lmsys_tui.engine.specs import (
    ClusterStep,
    EmbedStep,
    HierarchyStep,
    LoadStep,
    SummarizeStep,
)
from lmsys_tui.engine.workspace import open_workspace
from tests.conftest import WordHashEmbedder, fixture_rows, write_jsonl

HOSTILE_TEXTS = {
    "markup": "[bold red]not bold[/] [link=http://x]click[/link] $(rm -rf /)",
    "escapes": "clear \x1b[2J\x1b[31mred\x1b[0m bell\x07 back\rspace",
    "rtl": "مرحبا كيف أكتب استعلام SQL \u202eevil\u202c",
    "cjk": "如何用米饭和鸡蛋做炒饭？请给我一个食谱 🍳🍚",
    "long": "word " * 2000,
}
FIXED_TIME = "2026-01-02 03:04:05"


def build_ui_workspace(root) -> None:
    rows = fixture_rows()
    for name, text in HOSTILE_TEXTS.items():
        rows.append(
            {
                "conversation_id": f"hostile-{name}",
                "model": "[red]model[/red]",
                "conversation": [{"role": "user", "content": text}],
                "language": "Arabic" if name == "rtl" else "English",
            }
        )
    source = write_jsonl(root.parent / "ui-chats.jsonl", rows)
    embedder = WordHashEmbedder()
    with open_workspace(root) as ws:
        load(ws, LoadStep(source=str(source)))
        space_id = embed_queries(ws, EmbedStep(model=embedder.model), embedder=embedder).space_id
        cluster_space(
            ws, ClusterStep(n_clusters=3, run_id="k3", description="three topics"), space_id
        )
        summarize_run(ws, SummarizeStep(alias="offline", summary_run_id="summary-offline"), "k3")
        build_hierarchy(ws, HierarchyStep(levels=2, merge_ratio=0.5), "k3", "summary-offline")
        update_indexes(ws)
        con = ws.con
        hierarchy_id = con.execute("SELECT hierarchy_run_id FROM hierarchy_runs").fetchall()[0][0]
        con.execute("UPDATE hierarchy_runs SET hierarchy_run_id = 'hierarchy-offline'")
        con.execute(
            "UPDATE hierarchy_nodes SET hierarchy_run_id = 'hierarchy-offline' "
            "WHERE hierarchy_run_id = ?",
            [hierarchy_id],
        )
        con.execute(
            "INSERT INTO jobs VALUES ('job-1', '{\"load\": {}, \"embed\": {}}', 'succeeded', "
            "'embed', NULL, NULL, now()::TIMESTAMP, now()::TIMESTAMP)"
        )
        for table, column in (
            ("queries", "loaded_at"),
            ("clustering_runs", "created_at"),
            ("summary_runs", "created_at"),
            ("hierarchy_runs", "created_at"),
            ("jobs", "started_at"),
        ):
            con.execute(f"UPDATE {table} SET {column} = ?::TIMESTAMP", [FIXED_TIME])


def query_id_of(root, conversation_id: str) -> int:
    with open_workspace(root, read_only=True) as ws:
        return ws.con.execute(
            "SELECT query_id FROM queries WHERE conversation_id = ?", [conversation_id]
        ).fetchall()[0][0]
