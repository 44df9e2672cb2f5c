"""The agent subcommands on the fixture workspace, in both output modes."""

from __future__ import annotations

import csv
import json
import shutil

import pyarrow.parquet as pq
import pytest

from lmsys_tui.cli import main
from tests.ui_workspace import query_id_of

RUN = "k3"
NO_OPENAI_KEY = "openai/gpt-4o-mini needs OPENAI_API_KEY set in the environment, and it is not set"


@pytest.fixture
def ws_copy(ui_root, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(ui_root, root)
    return root


def run(capsys, root, *args) -> tuple[int, str, str]:
    code = main(["--data-dir", str(root), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def as_json(capsys, root, *args):
    code, out, err = run(capsys, root, *args, "--json")
    assert code == 0, err
    return json.loads(out)  # exactly one JSON document, nothing else on stdout


def test_runs_in_both_modes(capsys, ui_root):
    data = as_json(capsys, ui_root, "runs")
    (only,) = data["runs"]
    assert {
        "run_id",
        "algorithm",
        "n_clusters",
        "n_queries",
        "summary_runs",
        "hierarchies",
        "created_at",
        "edited_at",
        "embedding_model",
        "metrics",
    } <= set(only)
    assert only["run_id"] == RUN and only["summary_runs"][0]["alias"] == "offline"
    code, out, _ = run(capsys, ui_root, "runs", "--latest")
    assert code == 0 and RUN in out


def test_a_summary_run_with_failed_clusters_is_marked_partial(capsys, ws_copy):
    import duckdb

    with duckdb.connect(str(ws_copy / "lmsys.duckdb")) as con:
        con.execute("UPDATE summary_runs SET status = 'partial' WHERE alias = 'offline'")
    code, out, _ = run(capsys, ws_copy, "runs")
    assert code == 0 and "offline (partial)" in out


def test_clusters_inspect_hierarchy_and_query(capsys, ui_root):
    clusters = as_json(capsys, ui_root, "clusters", RUN, "--examples", "2", "--sort", "size")
    sizes = [c["size"] for c in clusters["clusters"]]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == 35
    assert all(len(c["examples"]) == 2 and c["title"] for c in clusters["clusters"])
    cluster_id = clusters["clusters"][0]["cluster_id"]

    inspected = as_json(capsys, ui_root, "inspect", RUN, str(cluster_id), "--queries", "3")
    assert inspected["cluster"]["size"] == sizes[0] and len(inspected["queries"]) == 3
    assert set(inspected["queries"][0]) == {
        "query_id",
        "distance",
        "model",
        "language",
        "text",
        "copies",
    }
    code, out, _ = run(capsys, ui_root, "inspect", RUN, str(cluster_id), "--queries", "3")
    header = next(line for line in out.splitlines() if "distance" in line)
    has_model = any(row["model"] for row in inspected["queries"])
    assert code == 0 and ("model" in header) == has_model and "copies" not in header

    tree = as_json(capsys, ui_root, "hierarchy", RUN)
    assert tree["hierarchy_run_id"] == "hierarchy-offline"
    leaves = _leaves(tree["nodes"])
    assert sorted(leaf["cluster_id"] for leaf in leaves) == [0, 1, 2]
    code, out, _ = run(capsys, ui_root, "hierarchy", RUN)
    assert code == 0 and "[cluster" in out
    # A category of one cluster stays in the JSON; the tree shows the cluster in its place.
    lone = next(node for node in tree["nodes"] if len(node["children"]) == 1)["children"][0]
    line = next(line for line in out.splitlines() if f"[cluster {lone['cluster_id']}]" in line)
    assert line.startswith(("├── ", "└── ")), out

    query_id = query_id_of(ui_root, "sql-0")
    detail = as_json(capsys, ui_root, "query", str(query_id), "--neighbours", "3")
    assert detail["query"]["conversation_id"] == "sql-0"
    assert detail["query"]["clusters"][0]["run_id"] == RUN
    assert len(detail["neighbours"]) == 3
    code, out, _ = run(capsys, ui_root, "query", str(query_id), "--neighbours", "0")
    lines = [line.split() for line in out.splitlines()]
    assert code == 0 and ["topic", '"sql"'] in lines  # the source's own fields too
    assert "neighbour" not in out  # no empty table
    hostile = query_id_of(ui_root, "hostile-markup")
    code, out, _ = run(capsys, ui_root, "query", str(hostile), "--neighbours", "0")
    assert code == 0 and ["model", "[red]model[/red]"] in [
        line.split() for line in out.splitlines()
    ]


def _leaves(nodes):
    for node in nodes:
        if node["cluster_id"] is not None:
            yield node
        yield from _leaves(node["children"])


def test_search_and_search_clusters(capsys, ui_root):
    found = as_json(
        capsys,
        ui_root,
        "search",
        "sql query",
        "--mode",
        "keyword",
        "-n",
        "5",
        "--model",
        "gpt-4",
        "--facets",
        "cluster,model",
    )
    assert found["hits"] and all(hit["model"] == "gpt-4" for hit in found["hits"])
    assert set(found["facets"]) == {"cluster", "model"}
    assert set(found["hits"][0]) == {
        "query_id",
        "score",
        "snippet",
        "model",
        "language",
        "cluster_id",
        "copies",  # other candidates with the same text, shown once
    }
    clusters = as_json(capsys, ui_root, "search-clusters", "sql", "--run-id", RUN, "-k", "2")
    assert len(clusters["clusters"]) == 2 and clusters["summary_run_id"] == "summary-offline"


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl", ".parquet"])
def test_every_export_format_round_trips(capsys, ui_root, tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    result = as_json(capsys, ui_root, "export", RUN, "--output", str(path))
    assert result["rows"] == 35 and result["hierarchy_run_id"] == "hierarchy-offline"
    if suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    elif suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
    elif suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        rows = pq.read_table(path).to_pylist()
    assert len(rows) == 35
    assert {
        "query_id",
        "conversation_id",
        "model",
        "language",
        "query_text",
        "cluster_id",
        "distance",
        "cluster_title",
        "cluster_description",
        "category_1",
    } <= set(rows[0])
    by_id = {int(row["query_id"]): row for row in rows}
    markup = by_id[query_id_of(ui_root, "hostile-markup")]
    assert markup["query_text"].startswith("[bold red]not bold[/]")
    assert markup["category_1"]


def test_a_sample_per_cluster_shows_each_text_once_picked_by_seed_or_nearest(
    capsys, ws_copy, tmp_path
):
    from lmsys_tui.engine.workspace import open_workspace

    copy, original = query_id_of(ws_copy, "sql-1"), query_id_of(ws_copy, "sql-0")
    with open_workspace(ws_copy) as ws:  # sql-1 marked as a copy of sql-0
        ws.con.execute("INSERT INTO duplicates VALUES (?, ?, ?, 'exact')", [RUN, copy, original])
        members = ws.con.execute(
            "SELECT cluster_id, query_id, distance FROM query_clusters WHERE run_id = ?", [RUN]
        ).fetchall()

    def sample(*options) -> list[dict]:
        path = tmp_path / "sample.parquet"
        result = as_json(capsys, ws_copy, "export", RUN, "-o", str(path), "--overwrite", *options)
        rows = pq.read_table(path).to_pylist()
        assert result["rows"] == len(rows)
        return rows

    everything = sample("--per-cluster", "100")
    assert len(everything) == 34 and copy not in {row["query_id"] for row in everything}
    two = sample("--per-cluster", "2")
    clusters = {cluster for cluster, _, _ in members}
    assert len(two) == 2 * len(clusters)  # each cluster holds more than two texts
    assert all(sum(r["cluster_id"] == c for r in two) == 2 for c in clusters)
    ids = [row["query_id"] for row in two]
    assert ids == [row["query_id"] for row in sample("--per-cluster", "2")]  # seeded
    assert ids != [row["query_id"] for row in sample("--per-cluster", "2", "--seed", "7")]
    nearest = sample("--per-cluster", "1", "--pick", "nearest")
    for row in nearest:  # the member nearest its centroid (not the copy)
        closest = min((d, q) for c, q, d in members if c == row["cluster_id"] and q != copy)
        assert row["query_id"] == closest[1]
    with pytest.raises(SystemExit):  # argparse: "expected 1 or more, got 0"
        run(capsys, ws_copy, "export", RUN, "-o", "x.csv", "--per-cluster", "0")
    assert "--per-cluster: expected 1 or more, got 0" in capsys.readouterr().err
    # The same sample from a job file's [export] step, and its plan says so.
    job = tmp_path / "sample.toml"
    job.write_text(f'[export]\npath = "{tmp_path / "job.parquet"}"\nper_cluster = 2\n')
    code, out, _ = run(capsys, ws_copy, "--run-job", str(job), "--dry-run")
    assert code == 0 and "(up to 2 texts per cluster, random)" in out
    assert as_json(capsys, ws_copy, "--run-job", str(job))["export"]["rows"] == len(two)
    code, out, err = run(capsys, ws_copy, "--run-job", str(job))
    assert code == 0 and f"{len(two)} rows of {RUN} (up to 2 per cluster, random)" in out + err
    assert [r["query_id"] for r in pq.read_table(tmp_path / "job.parquet").to_pylist()] == ids


def test_edits_are_audited_and_change_what_depends_on_them(capsys, ws_copy):
    clusters = as_json(capsys, ws_copy, "clusters", RUN)["clusters"]
    first, second = clusters[0]["cluster_id"], clusters[1]["cluster_id"]
    renamed = as_json(
        capsys,
        ws_copy,
        "edit",
        "rename",
        RUN,
        str(first),
        "--title",
        "SQL questions",
        "--reason",
        "clearer",
    )
    assert renamed["previous"]["title"] == clusters[0]["title"]
    as_json(capsys, ws_copy, "edit", "tag", RUN, str(first), "--tag", "good", "--note", "ok")
    query_id = query_id_of(ws_copy, "travel-0")
    as_json(capsys, ws_copy, "edit", "move", RUN, "--query-ids", str(query_id), "--to", str(second))
    # The counts an offline description gives follow the move; the summary index, which
    # leaves counts out, stays true without embedding the summaries again.
    moved = {c["cluster_id"]: c for c in as_json(capsys, ws_copy, "clusters", RUN)["clusters"]}
    assert moved[second]["size"] == clusters[1]["size"] + 1
    assert moved[second]["description"].startswith(f"{moved[second]['size']} prompts (")
    report = as_json(capsys, ws_copy, "verify", RUN)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    merged = as_json(
        capsys,
        ws_copy,
        "edit",
        "merge",
        RUN,
        "--clusters",
        f"{first},{second}",
        "--title",
        "Merged",
    )
    assert merged["new"] == {"cluster_id": first}

    audit = as_json(capsys, ws_copy, "audit", RUN)["edits"]
    assert [e["action"] for e in audit] == ["rename", "tag", "move", "merge", "rename"]
    assert audit[0]["reason"] == "clearer" and audit[2]["target"]["query_ids"] == [query_id]
    after = as_json(capsys, ws_copy, "clusters", RUN)["clusters"]
    assert len(after) == 2 and sum(c["size"] for c in after) == 35
    top = next(c for c in after if c["cluster_id"] == first)
    assert top["title"] == "Merged" and top["tags"] == ["good"]
    assert as_json(capsys, ws_copy, "runs")["runs"][0]["edited_at"]
    report = as_json(capsys, ws_copy, "verify", RUN)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]


def test_a_summary_index_built_with_counts_stays_good_until_an_edit_renews_it(capsys, ws_copy):
    """Earlier versions embedded the whole description, counts included: such an index
    is not called stale after an upgrade; the first edit that changes counts rebuilds it."""
    from lmsys_tui.engine.retrieval.index import (
        _fingerprint,
        _manifest_path,
        summary_index_path,
        summary_texts,
    )
    from lmsys_tui.engine.workspace import open_workspace

    with open_workspace(ws_copy) as ws:
        (summary_run_id,) = ws.con.execute("SELECT summary_run_id FROM summary_runs").fetchone()
        _, cluster_ids, texts = summary_texts(ws, summary_run_id, with_counts=True)
        manifest_path = _manifest_path(summary_index_path(ws, summary_run_id))
    manifest = json.loads(manifest_path.read_text())
    manifest["fingerprint"] = _fingerprint(cluster_ids, texts)  # as an earlier version wrote
    manifest_path.write_text(json.dumps(manifest))
    assert as_json(capsys, ws_copy, "verify", RUN)["ok"]
    query_id = query_id_of(ws_copy, "travel-0")
    clusters = as_json(capsys, ws_copy, "clusters", RUN)["clusters"]
    home = as_json(capsys, ws_copy, "query", str(query_id))["query"]["clusters"][0]["cluster_id"]
    to = next(c["cluster_id"] for c in clusters if c["cluster_id"] != home)
    as_json(capsys, ws_copy, "edit", "move", RUN, "--query-ids", str(query_id), "--to", str(to))
    report = as_json(capsys, ws_copy, "verify", RUN)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    assert json.loads(manifest_path.read_text())["fingerprint"] != manifest["fingerprint"]


def test_verify_fails_when_the_index_disagrees(capsys, ws_copy):
    for path in (ws_copy / "index").glob("*.queries.usearch"):
        path.write_bytes(path.read_bytes()[:1000])
    code, out, _ = run(capsys, ws_copy, "verify", RUN, "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert [c["name"] for c in report["checks"] if not c["ok"]] == ["query index"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["clusters", "nope"], "no clustering run 'nope' (runs: k3"),  # what to try instead
        (["inspect", RUN, "99"], "run k3 has no cluster 99"),
        (["query", "99999"], "no query with id 99999"),
        (["clusters", RUN, "--summary", "v9"], "run k3 has no summary run or alias 'v9'"),
        (["edit", "tag", RUN, "99", "--tag", "bad"], "run k3 has no cluster 99"),
        (["export", RUN, "-o", "out.xlsx"], "cannot export to out.xlsx"),
    ],
)
def test_bad_ids_are_one_line_errors_with_exit_2(capsys, ws_copy, args, message):
    code, out, err = run(capsys, ws_copy, *args)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, ws_copy, *args, "--json")
    assert code == 2 and message in json.loads(out)["error"]


def test_an_empty_workspace_is_an_error(capsys, tmp_path):
    from lmsys_tui.engine.workspace import open_workspace

    open_workspace(tmp_path / "empty").close()
    code, out, err = run(capsys, tmp_path / "empty", "runs", "--json")
    assert code == 2 and "is empty" in json.loads(out)["error"]


def test_an_export_step_in_a_job_writes_the_file(ws_copy, tmp_path):
    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.specs import JobSpec
    from lmsys_tui.engine.workspace import open_workspace

    target = tmp_path / "job-export.jsonl"
    with open_workspace(ws_copy) as ws:
        result = run_job(ws, JobSpec.model_validate({"export": {"path": str(target)}}))
    assert result["export"]["rows"] == 35 and result["export"]["run_id"] == RUN
    assert len(target.read_text(encoding="utf-8").splitlines()) == 35


def test_a_filter_value_no_query_has_is_said_and_counts_must_be_positive(capsys, ui_root):
    code, _, err = run(
        capsys, ui_root, "search", "sql", "--mode", "keyword", "--language", "Klingon"
    )
    assert code == 2 and "no query has language 'Klingon'" in err and "English" in err
    with pytest.raises(SystemExit) as caught:
        main(["--data-dir", str(ui_root), "search", "sql", "-n", "-1"])
    assert caught.value.code == 2 and "expected 1 or more" in capsys.readouterr().err
    # Lists may be empty, never negative (DuckDB's LIMIT error, a usearch array dump).
    for args in (
        ["inspect", RUN, "0", "--queries", "-5"],
        ["clusters", "--examples", "-2"],
        ["query", "1", "--neighbours", "-1"],
        ["search", "sql", "--within-clusters", "sql", "--top-clusters", "0"],
    ):
        with pytest.raises(SystemExit) as caught:
            main(["--data-dir", str(ui_root), *args])
        err = capsys.readouterr().err
        assert caught.value.code == 2 and "Exception" not in err and "array" not in err, err
        assert "expected 0 or more" in err or "expected 1 or more" in err
    assert main(["--data-dir", str(ui_root), "inspect", RUN, "0", "--queries", "0"]) == 0


def test_undo_reverses_renames_tags_and_moves_as_audited_edits(capsys, ws_copy):
    def title(cluster_id):
        clusters = as_json(capsys, ws_copy, "clusters", "k3")["clusters"]
        return next(c["title"] for c in clusters if c["cluster_id"] == cluster_id)

    before = title(0)
    assert run(capsys, ws_copy, "edit", "rename", "k3", "0", "--title", "Mine")[0] == 0
    assert run(capsys, ws_copy, "edit", "tag", "k3", "0", "--tag", "good")[0] == 0
    query = query_id_of(ws_copy, "sql-0")
    home = as_json(capsys, ws_copy, "query", str(query))["query"]["clusters"][0]["cluster_id"]
    other = next(c for c in (0, 1, 2) if c != home)
    assert (
        run(capsys, ws_copy, "edit", "move", "k3", "--query-ids", str(query), "--to", str(other))[0]
        == 0
    )
    undone = [as_json(capsys, ws_copy, "edit", "undo", "k3") for _ in range(3)]
    assert (
        as_json(capsys, ws_copy, "query", str(query))["query"]["clusters"][0]["cluster_id"] == home
    )
    assert title(0) == before
    tags = as_json(capsys, ws_copy, "clusters", "k3")["clusters"]
    assert all("good" not in c["tags"] for c in tags)
    reasons = [e["reason"] for u in undone for e in u["edits"]]
    assert reasons == ["undo of edit 3", "undo of edit 2", "undo of edit 1"]
    code, _, err = run(capsys, ws_copy, "edit", "undo", "k3")
    assert code == 2 and "no edit to undo" in err


def test_an_undo_stopped_half_way_is_rolled_back_and_done_again(ws_copy, monkeypatch):
    from lmsys_tui.engine.curation import undo
    from lmsys_tui.engine.curation.edits import move_queries
    from lmsys_tui.engine.workspace import open_workspace

    with open_workspace(ws_copy) as ws:

        def home(query_id):
            return ws.con.execute(
                "SELECT cluster_id FROM query_clusters WHERE run_id = ? AND query_id = ?",
                [RUN, query_id],
            ).fetchall()[0][0]

        sql, travel = (
            ws.con.execute(
                "SELECT query_id FROM queries WHERE conversation_id = ?", [c]
            ).fetchall()[0][0]
            for c in ("sql-0", "travel-0")
        )
        homes = {sql: home(sql), travel: home(travel)}
        assert len(set(homes.values())) == 2
        third = ({0, 1, 2} - set(homes.values())).pop()
        move_queries(ws, RUN, [sql, travel], third)
        # The undo moves each query back to its own cluster: Ctrl-C after the first.
        calls = []

        def stopped_after_one(*args, **kwargs):
            calls.append(args)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return move_queries(*args, **kwargs)

        monkeypatch.setattr(undo, "move_queries", stopped_after_one)
        with pytest.raises(KeyboardInterrupt):
            undo.undo_last_edit(ws, RUN)
        assert home(sql) == home(travel) == third  # neither moved back
        monkeypatch.setattr(undo, "move_queries", move_queries)
        ids = undo.undo_last_edit(ws, RUN)  # the same edit again, not an older one
        assert {sql: home(sql), travel: home(travel)} == homes
        reasons = ws.con.execute(
            "SELECT reason FROM edits WHERE edit_id IN (SELECT unnest(?::INTEGER[]))", [ids]
        ).fetchall()
        assert reasons == [("undo of edit 1",), ("undo of edit 1",)]


def test_noise_is_never_merged_and_merge_into_names_the_target(capsys, ws_copy):
    code, _, err = run(capsys, ws_copy, "edit", "merge", RUN, "--clusters", "-1,1")
    assert code == 2 and "cluster -1 is noise" in err and "edit delete" in err
    # A title with nothing left once cleaned is refused before anything is merged.
    code, _, err = run(
        capsys, ws_copy, "edit", "merge", RUN, "--clusters", "0,1", "--title", "\x1b "
    )
    assert code == 2 and "a title cannot be empty" in err
    assert as_json(capsys, ws_copy, "audit", RUN)["edits"] == []
    merged = as_json(capsys, ws_copy, "edit", "merge", RUN, "--clusters", "0,1", "--into", "1")
    assert merged["new"] == {"cluster_id": 1}
    ids = [c["cluster_id"] for c in as_json(capsys, ws_copy, "clusters", RUN)["clusters"]]
    assert sorted(ids) == [1, 2]
    # With noise in the run (a dissolved cluster), a merge still counts clusters only.
    as_json(capsys, ws_copy, "edit", "delete", RUN, "2")
    parts = as_json(capsys, ws_copy, "edit", "split", RUN, "1")["new"]["cluster_ids"]
    as_json(capsys, ws_copy, "edit", "merge", RUN, "--clusters", ",".join(map(str, parts)))
    (run_row,) = as_json(capsys, ws_copy, "runs")["runs"]
    assert run_row["n_clusters"] == 1
    for _ in range(3):  # the merge, the split, the delete: as before all three
        as_json(capsys, ws_copy, "edit", "undo", RUN)
    ids = [c["cluster_id"] for c in as_json(capsys, ws_copy, "clusters", RUN)["clusters"]]
    assert sorted(ids) == [1, 2]


def test_split_and_delete_are_audited_and_keep_every_query(capsys, ws_copy):
    before = {c["cluster_id"]: c for c in as_json(capsys, ws_copy, "clusters", RUN)["clusters"]}
    biggest = max(before.values(), key=lambda c: c["size"])
    as_json(capsys, ws_copy, "edit", "split", RUN, str(biggest["cluster_id"]), "--k", "2")
    after = {c["cluster_id"]: c for c in as_json(capsys, ws_copy, "clusters", RUN)["clusters"]}
    (new_id,) = set(after) - set(before)
    assert after[biggest["cluster_id"]]["size"] + after[new_id]["size"] == biggest["size"]
    # Each part is named by key phrases of its own texts, not "(part 2)" of the whole's.
    titles = {after[c]["title"] for c in (biggest["cluster_id"], new_id)}
    assert len(titles) == 2 and not any("(part" in t or t == biggest["title"] for t in titles)
    for part in (after[biggest["cluster_id"]], after[new_id]):  # its own count, not the whole's
        assert part["description"].startswith(f"{part['size']} prompts (")
        shown = as_json(capsys, ws_copy, "inspect", RUN, str(part["cluster_id"]), "--queries", "99")
        texts = " ".join(q["text"].lower() for q in shown["queries"])
        assert all(word.lower() in texts for word in part["title"].split(", "))
    leaves = []
    stack = list(as_json(capsys, ws_copy, "hierarchy", RUN)["nodes"])
    while stack:
        node = stack.pop()
        leaves += [node["cluster_id"]] if node.get("cluster_id") is not None else []
        stack += node.get("children", [])
    assert new_id in leaves  # beside the cluster it came from

    deleted = as_json(capsys, ws_copy, "edit", "delete", RUN, str(new_id), "--reason", "junk")
    assert deleted["action"] == "delete"
    clusters = as_json(capsys, ws_copy, "clusters", RUN)["clusters"]
    assert new_id not in {c["cluster_id"] for c in clusters}
    noise = as_json(capsys, ws_copy, "inspect", RUN, "-1")["cluster"]
    assert noise["size"] == after[new_id]["size"]
    audit = as_json(capsys, ws_copy, "audit", RUN, "--cluster", str(new_id))["edits"]
    assert [e["action"] for e in audit] == ["split", "delete"]
    assert as_json(capsys, ws_copy, "audit", RUN, "--since", "2999-01-01")["edits"] == []
    code, out, _ = run(capsys, ws_copy, "audit", RUN, "--since", "2999-01-01")
    assert code == 0 and out.strip() == "run k3 has no edits since 2999-01-01"


def test_a_merge_names_the_merged_cluster_from_all_its_queries_unless_named_by_hand(
    capsys, ws_copy
):
    before = {c["cluster_id"]: c for c in as_json(capsys, ws_copy, "clusters", RUN)["clusters"]}
    as_json(capsys, ws_copy, "edit", "merge", RUN, "--clusters", "0,1")
    merged = as_json(capsys, ws_copy, "inspect", RUN, "0", "--queries", "99")
    cluster = merged["cluster"]
    assert cluster["size"] == before[0]["size"] + before[1]["size"]
    # Its count and key phrases are the merged cluster's, not cluster 0's alone.
    assert cluster["description"].startswith(f"{cluster['size']} prompts (")
    assert cluster["title"] != before[0]["title"]
    texts = " ".join(q["text"].lower() for q in merged["queries"])
    assert all(word.lower() in texts for word in cluster["title"].split(", "))
    as_json(capsys, ws_copy, "edit", "undo", RUN)
    after = {c["cluster_id"]: c for c in as_json(capsys, ws_copy, "clusters", RUN)["clusters"]}
    assert after[0]["title"] == before[0]["title"]
    assert after[0]["description"] == before[0]["description"]
    # A title given by hand is kept.
    as_json(capsys, ws_copy, "edit", "rename", RUN, "0", "--title", "Mine")
    as_json(capsys, ws_copy, "edit", "merge", RUN, "--clusters", "0,2")
    assert as_json(capsys, ws_copy, "inspect", RUN, "0")["cluster"]["title"] == "Mine"


def test_a_merge_with_a_title_is_undone_at_once(capsys, ws_copy):
    def clusters():
        found = as_json(capsys, ws_copy, "clusters", RUN)["clusters"]
        return {c["cluster_id"]: (c["size"], c["title"], c["description"]) for c in found}

    before = clusters()
    as_json(capsys, ws_copy, "edit", "merge", RUN, "--clusters", "0,1", "--title", "Both")
    assert clusters()[0][1] == "Both" and 1 not in clusters()
    undone = as_json(capsys, ws_copy, "edit", "undo", RUN)
    assert [(e["action"], e["reason"]) for e in undone["edits"]] == [
        ("rename", "undo of edit 2"),
        ("restore", "undo of edit 1"),
    ]
    assert clusters() == before
    code, _, err = run(capsys, ws_copy, "edit", "undo", RUN)
    assert code == 2 and "no edit to undo" in err


def test_a_split_is_undone_by_merging_its_parts_back(capsys, ws_copy):
    def clusters():
        found = as_json(capsys, ws_copy, "clusters", RUN)["clusters"]
        return {c["cluster_id"]: (c["size"], c["title"], c["description"]) for c in found}

    before = clusters()
    biggest = max(before, key=lambda c: before[c][0])
    as_json(capsys, ws_copy, "edit", "split", RUN, str(biggest), "--k", "3")
    assert len(clusters()) == len(before) + 2
    undone = as_json(capsys, ws_copy, "edit", "undo", RUN)
    assert [e["action"] for e in undone["edits"]] == ["merge"]
    assert clusters() == before  # sizes, titles and the counts in the descriptions
    audit = as_json(capsys, ws_copy, "audit", RUN)["edits"]
    assert [(e["action"], e["reason"]) for e in audit] == [
        ("split", None),
        ("merge", "undo of edit 1"),
    ]
    report = as_json(capsys, ws_copy, "verify", RUN)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    code, _, err = run(capsys, ws_copy, "edit", "undo", RUN)
    assert code == 2 and "no edit to undo" in err


def test_a_split_keeps_a_title_given_by_hand_on_the_part_that_keeps_the_id(capsys, ws_copy):
    def titles():
        return {
            c["cluster_id"]: c["title"]
            for c in as_json(capsys, ws_copy, "clusters", RUN)["clusters"]
        }

    as_json(capsys, ws_copy, "edit", "rename", RUN, "1", "--title", "Mine")
    as_json(capsys, ws_copy, "edit", "split", RUN, "1")
    after = titles()
    assert after[1] == "Mine" and after[3] not in ("Mine", "Mine (part 2)")
    as_json(capsys, ws_copy, "edit", "undo", RUN)  # the split
    as_json(capsys, ws_copy, "edit", "undo", RUN)  # the rename: the machine's title again
    machine = titles()[1]
    as_json(capsys, ws_copy, "edit", "split", RUN, "1")
    assert titles()[1] != machine  # named again, from its own part's texts


def _run_state(capsys, root) -> dict:
    """What a user sees of a run's clusters: sizes, titles, descriptions, tags, leaves."""
    clusters = as_json(capsys, root, "clusters", RUN)["clusters"]
    leaves, stack = {}, list(as_json(capsys, root, "hierarchy", RUN)["nodes"])
    while stack:
        node = stack.pop()
        if node.get("cluster_id") is not None:
            leaves[node["cluster_id"]] = (node["title"], node["size"])
        stack += node.get("children", [])
    return {
        "clusters": {
            c["cluster_id"]: (c["size"], c["title"], c["description"], c["tags"]) for c in clusters
        },
        "leaves": leaves,
    }


def test_a_merge_and_a_delete_are_undone_with_names_leaves_tags_and_members(capsys, ws_copy):
    assert run(capsys, ws_copy, "edit", "tag", RUN, "1", "--tag", "good")[0] == 0
    tagged = _run_state(capsys, ws_copy)

    def members(cluster_id):  # distances from a centroid computed again: the same to 1e-6
        shown = as_json(capsys, ws_copy, "inspect", RUN, str(cluster_id), "--queries", "1000")
        return [{**q, "distance": round(q["distance"], 4)} for q in shown["queries"]]

    before = {c: members(c) for c in (0, 1, 2)}
    as_json(capsys, ws_copy, "edit", "merge", RUN, "--clusters", "0,1")
    as_json(capsys, ws_copy, "edit", "delete", RUN, "2")
    assert set(_run_state(capsys, ws_copy)["clusters"]) == {-1, 0}

    undone = as_json(capsys, ws_copy, "edit", "undo", RUN)  # the delete
    assert [(e["action"], e["reason"]) for e in undone["edits"]] == [("restore", "undo of edit 3")]
    assert -1 not in _run_state(capsys, ws_copy)["clusters"]  # noise emptied, so gone
    as_json(capsys, ws_copy, "edit", "undo", RUN)  # the merge
    assert _run_state(capsys, ws_copy) == tagged
    assert {c: members(c) for c in (0, 1, 2)} == before  # each member once, copies too
    report = as_json(capsys, ws_copy, "verify", RUN)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    audit = as_json(capsys, ws_copy, "audit", RUN, "--cluster", "1")["edits"]
    assert [e["action"] for e in audit] == ["tag", "merge", "restore"]


def test_a_merge_is_not_undone_under_names_made_after_it(capsys, ws_copy):
    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.specs import JobSpec, SummarizeStep
    from lmsys_tui.engine.workspace import open_workspace

    as_json(capsys, ws_copy, "edit", "merge", RUN, "--clusters", "0,1")
    with open_workspace(ws_copy) as ws:
        run_job(ws, JobSpec(summarize=SummarizeStep(run_id=RUN, summary_run_id="summary-late")))
    before = as_json(capsys, ws_copy, "clusters", RUN)
    code, _, err = run(capsys, ws_copy, "edit", "undo", RUN)
    assert code == 2
    assert err.strip().endswith(
        "edit 1 (merge) cannot be undone: summary run summary-late was made after it, "
        "without the clusters it removed (delete that run first, or split instead)"
    )
    assert as_json(capsys, ws_copy, "clusters", RUN) == before


def test_edited_titles_are_cleaned_and_limited(capsys, ws_copy):
    code, _, err = run(capsys, ws_copy, "edit", "rename", RUN, "0", "--title", "x" * 10_000)
    assert code == 2 and "at most 200 characters; this one has 10,000" in err
    renamed = as_json(
        capsys, ws_copy, "edit", "rename", RUN, "0", "--title", "clear\x1b[2J\x07 \u202eme"
    )
    assert renamed["new"]["title"] == "clear[2J me"


def test_export_refuses_to_overwrite_and_empty_searches_are_refused(capsys, ws_copy, tmp_path):
    target = tmp_path / "k3.csv"
    target.write_text("keep me")
    code, _, err = run(capsys, ws_copy, "export", RUN, "-o", str(target))
    assert code == 2 and "exists: pass --overwrite" in err and target.read_text() == "keep me"
    assert as_json(capsys, ws_copy, "export", RUN, "-o", str(target), "--overwrite")["rows"] == 35
    for command in (["search", "  "], ["search-clusters", ""]):
        code, _, err = run(capsys, ws_copy, *command)
        assert code == 2 and "search text is empty" in err
    code, out, _ = run(capsys, ws_copy, "search", "zzyzxq", "--mode", "keyword")
    assert code == 0 and out.strip() == "keyword search in k3: no query matches 'zzyzxq'"


def test_compare_and_facets_in_both_modes(capsys, ws_copy):
    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.specs import ClusterStep, JobSpec
    from lmsys_tui.engine.workspace import open_workspace

    with open_workspace(ws_copy) as ws:
        run_job(ws, JobSpec(cluster=ClusterStep(n_clusters=2, run_id="k2")))
    compared = as_json(capsys, ws_copy, "compare", RUN, "k2")
    assert compared["shared_queries"] == 35 and 0 <= compared["ari"] <= 1
    assert len(compared["matches"]) == 2 and compared["splits"] + compared["merges"]
    code, out, _ = run(capsys, ws_copy, "compare", RUN, "k2")
    assert code == 0 and "ARI" in out and "matched clusters" in out
    assert "1 cluster merged in B" in out or "1 cluster split in B" in out  # not "1 clusters"
    code, _, err = run(capsys, ws_copy, "compare", RUN, RUN)
    assert code == 2 and "with itself" in err

    lifts = as_json(capsys, ws_copy, "facets", RUN, "--by", "language")["lifts"]
    arabic = next(lift for lift in lifts if lift["value"] == "Arabic")
    assert arabic["count"] == 1 and arabic["lift"] > 1
    code, out, _ = run(capsys, ws_copy, "facets", RUN, "--by", "model", "--value", "gpt-4")
    assert code == 0 and "lift (95 %)" in out
    code, _, err = run(capsys, ws_copy, "facets", RUN, "--by", "colour")
    assert code == 2 and "no facet 'colour'" in err


def test_latest_or_no_run_id_names_the_newest_run(capsys, ws_copy):
    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.specs import ClusterStep, JobSpec
    from lmsys_tui.engine.workspace import open_workspace

    assert as_json(capsys, ws_copy, "clusters")["run_id"] == RUN
    with open_workspace(ws_copy) as ws:
        run_job(ws, JobSpec(cluster=ClusterStep(n_clusters=2, run_id="k2")))
    assert as_json(capsys, ws_copy, "clusters")["run_id"] == "k2"
    assert as_json(capsys, ws_copy, "clusters", "latest")["run_id"] == "k2"
    assert as_json(capsys, ws_copy, "inspect", "latest", "0")["cluster"]["run_id"] == "k2"
    assert as_json(capsys, ws_copy, "inspect", "1")["cluster"]["run_id"] == "k2"
    assert as_json(capsys, ws_copy, "inspect", RUN, "1")["cluster"]["run_id"] == RUN
    assert as_json(capsys, ws_copy, "compare", RUN, "latest")["run_b"] == "k2"
    code, out, _ = run(capsys, ws_copy, "edit", "tag", "latest", "1", "--tag", "good")
    assert code == 0 and "k2" in out
    assert as_json(capsys, ws_copy, "audit")["edits"][0]["run_id"] == "k2"
    with pytest.raises(ValueError, match="newest run"):
        ClusterStep(run_id="latest")


def test_a_mix_the_data_knows_nothing_of_is_left_out(capsys, ws_copy):
    from lmsys_tui.engine.workspace import open_workspace

    search = ("search", "sql query", "--mode", "keyword", "--facets", "model")
    code, out, _ = run(capsys, ws_copy, "inspect", RUN, "0")
    assert code == 0 and "models: " in out and "languages: " in out
    assert "┃ count" in run(capsys, ws_copy, *search)[1]
    with open_workspace(ws_copy) as ws:
        ws.con.execute("UPDATE queries SET model = NULL")
    code, out, _ = run(capsys, ws_copy, "inspect", RUN, "0")
    assert code == 0 and "models: " not in out and "languages: " in out
    code, out, _ = run(capsys, ws_copy, *search)
    assert code == 0 and "┃ count" not in out and "sql" in out.lower()
    assert "model" not in out.splitlines()[1]  # nor an empty model column
    code, out, _ = run(capsys, ws_copy, "query", str(query_id_of(ws_copy, "sql-0")))
    assert code == 0 and ["model", "-"] in [line.split() for line in out.splitlines()]
    assert as_json(capsys, ws_copy, *search)["facets"]["model"][0]["label"] == "(unknown)"


def test_report_is_one_self_contained_html_file(capsys, ws_copy, tmp_path):
    import html.parser

    from lmsys_tui.engine.workspace import open_workspace

    with open_workspace(ws_copy) as ws:
        ws.con.execute(
            "UPDATE cluster_summaries SET title = '<script>alert(1)</script> Joins' "
            "WHERE cluster_id = 0"
        )
    target = tmp_path / "k3.html"
    written = as_json(capsys, ws_copy, "report", RUN, "-o", str(target))
    assert written["clusters"] == 3 and target.stat().st_size == written["bytes"]

    class Page(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.links, self.text = [], [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            self.links += [value for name, value in attrs if name in ("src", "href")]

        def handle_data(self, data):
            self.text.append(data)

    page = Page()
    page.feed(target.read_text(encoding="utf-8"))
    text = " ".join(page.text)
    assert "script" not in page.tags and not page.links  # nothing runs, nothing is fetched
    assert page.tags.count("svg") == 2 and page.tags.count("circle") == 3
    assert "<script>alert(1)</script> Joins" in text  # shown as text
    assert "Categories" in text and "Languages by category" in text
    code, _, err = run(capsys, ws_copy, "report", RUN, "-o", str(target))
    assert code == 2 and "exists" in err


def test_dry_run_prints_each_steps_plan_and_writes_nothing(capsys, ws_copy, tmp_path, monkeypatch):
    from lmsys_tui.engine.workspace import open_workspace

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    job = tmp_path / "job.toml"
    job.write_text(
        '[embed]\nmodel = "word-hash-test-model"\n'
        '[summarize]\nrun_id = "k3"\nmodel = "openai/gpt-4o-mini"\n'
        '[hierarchy]\nmodel = "offline"\n'
    )
    with open_workspace(ws_copy, read_only=True) as ws:
        before = ws.count("jobs"), ws.count("summary_runs")
    code = main(["--data-dir", str(ws_copy), "--run-job", str(job), "--dry-run", "--json"])
    plan = json.loads(capsys.readouterr().out)
    assert code == 0 and plan["dry_run"]
    steps = {step["step"]: step for step in plan["steps"]}
    assert steps["embed"]["does"].endswith("0 queries to embed")
    llm = steps["summarize"]["llm"]
    assert (llm["items"], llm["requests"]) == (3, 3) and llm["cost"] > 0
    assert steps["summarize"]["does"].endswith("will fail: " + NO_OPENAI_KEY)
    assert "llm" not in steps["hierarchy"]  # offline: nothing to pay
    with open_workspace(ws_copy, read_only=True) as ws:
        assert (ws.count("jobs"), ws.count("summary_runs")) == before

    fresh = tmp_path / "new-ws"
    assert main(["--data-dir", str(fresh), "--run-job", str(job), "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out and not fresh.exists()
    # The same job, run: it stops before its embed step, with the same line.
    assert main(["--data-dir", str(ws_copy), "--run-job", str(job)]) == 1
    assert capsys.readouterr().err.strip() == "error: " + NO_OPENAI_KEY


def test_delete_run_takes_its_names_hierarchies_and_edits_and_nothing_else(capsys, ws_copy):
    from lmsys_tui.engine.deletion import RUN_TABLES
    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.specs import ClusterStep, JobSpec, SummarizeStep
    from lmsys_tui.engine.workspace import open_workspace

    with open_workspace(ws_copy) as ws:
        run_job(
            ws, JobSpec(cluster=ClusterStep(n_clusters=2, run_id="k2"), summarize=SummarizeStep())
        )
    as_json(capsys, ws_copy, "edit", "tag", RUN, "1", "--tag", "bad")
    as_json(capsys, ws_copy, "edit", "delete", RUN, "2")  # kept for its undo, till now
    # status lists runs newest first, as runs does.
    assert [r["run_id"] for r in as_json(capsys, ws_copy, "status")["runs"]] == ["k2", RUN]
    index = ws_copy / "index" / "summaries"
    assert (index / "summary-offline.usearch").exists()
    code, _, err = run(capsys, ws_copy, "delete-run", "latest")
    assert code == 2 and "not latest" in err  # what latest names changes as runs go

    deleted = as_json(capsys, ws_copy, "delete-run", RUN)
    assert deleted["summary_runs"] == ["summary-offline"]
    assert deleted["hierarchy_runs"] == ["hierarchy-offline"]
    assert (deleted["n_clusters"], deleted["n_queries"], deleted["edits"]) == (2, 35, 2)
    assert [r["run_id"] for r in as_json(capsys, ws_copy, "runs")["runs"]] == ["k2"]
    with open_workspace(ws_copy, read_only=True) as ws:
        for table in RUN_TABLES:
            left = ws.con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [RUN])
            assert left.fetchall()[0][0] == 0, table
        assert ws.count("removed_clusters") == 0
        for table, column in (
            ("cluster_summaries", "summary_run_id"),
            ("hierarchy_nodes", "hierarchy_run_id"),
        ):
            ids = [
                row[0]
                for row in ws.con.execute(f"SELECT DISTINCT {column} FROM {table}").fetchall()
            ]
            assert "summary-offline" not in ids and "hierarchy-offline" not in ids
        # The queries and their vectors stay.
        assert (ws.count("queries"), ws.count("embeddings")) == (35, 35)
    assert not (index / "summary-offline.usearch").exists()
    assert not (index / "summary-offline.json").exists()
    # The run left behind is whole and searchable.
    report = as_json(capsys, ws_copy, "verify", "k2")
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    assert as_json(capsys, ws_copy, "search", "SQL join", "--mode", "keyword")["hits"]
    code, _, err = run(capsys, ws_copy, "delete-run", RUN)
    assert code == 2 and "no clustering run 'k3'" in err
    # The last run too: listing none is an empty list, not an error.
    as_json(capsys, ws_copy, "delete-run", "k2")
    assert as_json(capsys, ws_copy, "runs") == {"runs": []}
    code, out, _ = run(capsys, ws_copy, "runs")
    assert code == 0 and "no clustering runs: run a job with a [cluster] step" in out


def test_delete_summary_takes_one_set_of_names_and_its_hierarchies(capsys, ws_copy):
    from lmsys_tui.engine.naming.summarize import summarize_run
    from lmsys_tui.engine.specs import SummarizeStep
    from lmsys_tui.engine.workspace import open_workspace

    with open_workspace(ws_copy) as ws:
        summarize_run(ws, SummarizeStep(alias="second", summary_run_id="summary-second"), RUN)
    as_json(capsys, ws_copy, "edit", "rename", RUN, "1", "--title", "Joins", "--summary", "offline")
    index = ws_copy / "index" / "summaries"
    assert (index / "summary-offline.usearch").exists()

    deleted = as_json(capsys, ws_copy, "delete-summary", "offline")  # by its alias
    assert (deleted["summary_run_id"], deleted["run_id"]) == ("summary-offline", RUN)
    assert (deleted["n_named"], deleted["hierarchy_runs"]) == (3, ["hierarchy-offline"])
    (listed,) = as_json(capsys, ws_copy, "runs")["runs"]
    assert [s["summary_run_id"] for s in listed["summary_runs"]] == ["summary-second"]
    with open_workspace(ws_copy, read_only=True) as ws:
        for table in ("summary_runs", "cluster_summaries", "hierarchy_runs"):
            left = ws.con.execute(
                f"SELECT count(*) FROM {table} WHERE summary_run_id = 'summary-offline'"
            )
            assert left.fetchall()[0][0] == 0, table
        assert ws.count("hierarchy_nodes") == 0
        assert ws.count("edits") == 1  # the audit trail keeps the rename
    assert not (index / "summary-offline.usearch").exists()
    # The run is whole, named by the other summary run, and its clusters searchable.
    clusters = as_json(capsys, ws_copy, "clusters", RUN)
    assert clusters["summary_run_id"] == "summary-second"
    assert all(c["title"] for c in clusters["clusters"])
    found = as_json(capsys, ws_copy, "search-clusters", "SQL join")
    assert found["summary_run_id"] == "summary-second" and found["clusters"]
    report = as_json(capsys, ws_copy, "verify", RUN)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    # Undoing the rename, whose names are gone, says so; nothing changes.
    code, _, err = run(capsys, ws_copy, "edit", "undo", RUN)
    assert code == 2 and "no summary run or alias 'summary-offline'" in err
    code, _, err = run(capsys, ws_copy, "delete-summary", "offline")
    assert code == 2 and "no summary run 'offline'" in err


def test_delete_summary_refuses_an_alias_that_names_two(capsys, ws_copy):
    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.specs import ClusterStep, JobSpec, SummarizeStep
    from lmsys_tui.engine.workspace import open_workspace

    with open_workspace(ws_copy) as ws:
        step = SummarizeStep(alias="offline", summary_run_id="summary-k2")
        run_job(ws, JobSpec(cluster=ClusterStep(n_clusters=2, run_id="k2"), summarize=step))
    code, _, err = run(capsys, ws_copy, "delete-summary", "offline")
    assert code == 2 and "alias 'offline' names 2 summary runs" in err
    assert "summary-offline" in err and "summary-k2" in err
    assert as_json(capsys, ws_copy, "delete-summary", "summary-k2")["run_id"] == "k2"


def test_an_edit_never_creates_a_workspace(capsys, tmp_path):
    code, _, err = run(capsys, tmp_path / "typo", "edit", "tag", RUN, "1", "--tag", "good")
    assert code == 2 and "no workspace at" in err
    assert not (tmp_path / "typo").exists()


def test_delete_space_takes_its_vectors_and_only_with_runs_its_runs(capsys, ws_copy):
    from lmsys_tui.engine.embedding.embed import embed_queries
    from lmsys_tui.engine.jobs import run_job
    from lmsys_tui.engine.specs import ClusterStep, EmbedStep, JobSpec
    from lmsys_tui.engine.workspace import open_workspace
    from tests.conftest import WordHashEmbedder

    (space,) = as_json(capsys, ws_copy, "status")["spaces"]
    space_id = space["space_id"]
    vectors = ws_copy / "vectors" / f"{space_id}.f16.npy"
    query_index = ws_copy / "index" / f"{space_id}.queries.usearch"
    assert vectors.exists() and query_index.exists()
    code, _, err = run(capsys, ws_copy, "delete-space", "nope")
    assert code == 2 and f"no embedding space 'nope' (spaces: {space_id})" in err
    code, _, err = run(capsys, ws_copy, "delete-space", space_id)
    assert code == 2 and "holds 1 run(s) (k3)" in err and "--with-runs" in err
    assert vectors.exists()  # refused: nothing went

    deleted = as_json(capsys, ws_copy, "delete-space", space_id, "--with-runs")
    assert [run["run_id"] for run in deleted["runs"]] == [RUN] and deleted["vectors"] == 35
    assert str(vectors) in deleted["files"] and deleted["freed_bytes"] > 35 * 32 * 2
    assert not vectors.exists() and not query_index.exists()
    assert not (ws_copy / "index" / "summaries" / "summary-offline.usearch").exists()
    status = as_json(capsys, ws_copy, "status")
    assert status["spaces"] == [] and status["runs"] == [] and status["summary_runs"] == []
    assert status["sources"][0]["queries"] == 35  # the queries stay
    # The same model again: a fresh space of the same id, whole.
    with open_workspace(ws_copy) as ws:
        embedder = WordHashEmbedder()
        again = embed_queries(ws, EmbedStep(model=embedder.model), embedder=embedder)
        assert (again.space_id, again.embedded) == (space_id, 35)
        run_job(ws, JobSpec(cluster=ClusterStep(n_clusters=3, run_id="again")))
    hits = as_json(capsys, ws_copy, "search", "SQL join", "--run-id", "again")["hits"]
    assert hits  # its query index built anew, not read from the deleted space's file
    report = as_json(capsys, ws_copy, "verify", "again")
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]


@pytest.mark.parametrize("signal", [KeyboardInterrupt(), RuntimeError("Query interrupted")])
def test_ctrl_c_in_a_command_is_one_line_and_exit_130(capsys, ui_root, monkeypatch, signal):
    from lmsys_tui.agent import run as agent_run

    def interrupted(ws, out, args):
        raise signal  # Ctrl-C, or DuckDB's RuntimeError for Ctrl-C inside a query

    monkeypatch.setattr(agent_run, "handler", lambda command: interrupted)
    code, out, err = run(capsys, ui_root, "runs")
    assert code == 130 and err == "error: interrupted: no edit or file was left half done\n"
