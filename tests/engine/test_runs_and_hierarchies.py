"""Steps that work on a run take its id; a hierarchy stays with its run; leaves read the
current titles."""

from __future__ import annotations

import pytest

from lmsys_tui.engine.browse import NotFound, hierarchy_nodes
from lmsys_tui.engine.clustering.runs import cluster_space
from lmsys_tui.engine.curation.edits import rename_cluster
from lmsys_tui.engine.embedding.embed import embed_queries
from lmsys_tui.engine.errors import SummaryError
from lmsys_tui.engine.export import export_run
from lmsys_tui.engine.jobs import run_job
from lmsys_tui.engine.load.ingest import load
from lmsys_tui.engine.specs import ClusterStep, EmbedStep, JobSpec, LoadStep
from tests.conftest import HashEmbedder


@pytest.fixture
def two_runs(workspace, lmsys_file, monkeypatch):
    """Runs k3 (older) and k2 (newest), no summaries yet."""
    from lmsys_tui.engine.embedding import embed

    key = ("sentence-transformers", HashEmbedder().model)
    monkeypatch.setitem(embed._SHARED_EMBEDDERS, key, HashEmbedder())
    load(workspace, LoadStep(source=str(lmsys_file)))
    space_id = embed_queries(workspace, EmbedStep(), embedder=HashEmbedder()).space_id
    cluster_space(workspace, ClusterStep(n_clusters=3, run_id="k3"), space_id)
    cluster_space(workspace, ClusterStep(n_clusters=2, run_id="k2"), space_id)
    workspace.con.execute(
        "UPDATE clustering_runs SET created_at = created_at - INTERVAL 1 HOUR WHERE run_id = 'k3'"
    )
    return workspace


def job(ws, steps: dict) -> dict:
    return run_job(ws, JobSpec.model_validate(steps))


def test_summaries_and_a_hierarchy_for_an_older_run(two_runs):
    ws = two_runs
    result = job(
        ws,
        {
            "summarize": {"run_id": "k3", "alias": "names"},
            "hierarchy": {"run_id": "k3", "levels": 1, "top_size": 2},
        },
    )
    assert result["summarize"]["run_id"] == "k3"
    assert result["hierarchy"]["run_id"] == "k3"
    newest = job(ws, {"summarize": {}})  # no run_id: the newest run
    assert newest["summarize"]["run_id"] == "k2"
    with pytest.raises(SummaryError, match=r"no clustering run 'k9' \(runs: k2, k3\)"):
        job(ws, {"summarize": {"run_id": "k9"}})


def test_a_hierarchy_of_another_run_is_refused(two_runs, tmp_path):
    ws = two_runs
    hierarchy_id = job(
        ws,
        {"summarize": {"run_id": "k3"}, "hierarchy": {"run_id": "k3", "levels": 1, "top_size": 2}},
    )["hierarchy"]["hierarchy_run_id"]
    target = tmp_path / "k2.csv"
    with pytest.raises(NotFound, match=f"{hierarchy_id} was built on run k3, not k2"):
        export_run(ws, "k2", target, hierarchy_run_id=hierarchy_id)
    assert not target.exists()


def test_an_export_interrupted_in_duckdb_leaves_no_file_and_says_interrupted(two_runs, tmp_path):
    class Interrupted:
        """The connection, but Ctrl-C lands in the COPY (DuckDB raises this RuntimeError)."""

        def __init__(self, con):
            self.con = con

        def execute(self, sql, *args):
            if sql.startswith("COPY"):
                raise RuntimeError("Query interrupted")
            return self.con.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.con, name)

    ws, real = two_runs, two_runs.con
    ws.con = Interrupted(real)
    try:
        with pytest.raises(RuntimeError, match="Query interrupted"):  # not "cannot write"
            export_run(ws, "k2", tmp_path / "k2.csv")
    finally:
        ws.con = real
    assert list(tmp_path.glob("k2.csv*")) == []  # neither the file nor its .partial


def test_hierarchy_leaves_show_renamed_titles(two_runs):
    ws = two_runs
    result = job(
        ws,
        {"summarize": {"run_id": "k3"}, "hierarchy": {"run_id": "k3", "levels": 1, "top_size": 2}},
    )
    rename_cluster(ws, "k3", 0, "Renamed after the build")
    leaves = {
        node.cluster_id: node.title
        for node in hierarchy_nodes(ws.con, result["hierarchy"]["hierarchy_run_id"])
        if node.cluster_id is not None
    }
    assert leaves[0] == "Renamed after the build"
