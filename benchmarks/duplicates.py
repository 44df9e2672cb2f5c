"""Copies in a run at scale: exact and near-duplicate marking on N synthetic prompts.

Prompts: 10 % exact copies of earlier prompts (some with other case and punctuation),
10 % from 2,000 short templates with a different filler each (near copies by vector), 5 %
from 1,000 long templates with a filler in the middle (vectors at cosine ~0.9: near copies
by their characters), the rest unique. Vectors come from a synthetic embedder (topic
centres plus noise; template members close together), so only the marking is timed;
then exports (a sample per cluster against the whole run), two edits and deleting the
run. The baseline, in the same run, is a bare DuckDB GROUP BY over the raw texts (exact
copies only), wall and CPU time.

    python benchmarks/duplicates.py [--rows 1000000] [--k 1000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import machine  # noqa: E402

from lmsys_tui.engine.clustering.runs import cluster_space  # noqa: E402
from lmsys_tui.engine.deletion import delete_run  # noqa: E402
from lmsys_tui.engine.embedding.embed import embed_queries  # noqa: E402
from lmsys_tui.engine.enrich.duplicates import find_duplicates  # noqa: E402
from lmsys_tui.engine.load.ingest import load  # noqa: E402
from lmsys_tui.engine.specs import ClusterStep, EmbedStep, LoadStep  # noqa: E402
from lmsys_tui.engine.workspace import open_workspace  # noqa: E402

DIM = 384
LONG_TEMPLATE = (
    "you are a support agent for an online furniture shop. Read the order {} below and "
    "write a reply to the customer in a friendly tone, in three short paragraphs: thank "
    "them, explain the delivery dates and how to return an item, then sign as the team"
)


class SyntheticEmbedder:
    """ "topic T ..." near centre T (noise 0.9); "template F ..." near family F (noise 0.03);
    "long F ..." near long family F (noise 0.33: members at cosine ~0.9)."""

    provider = "sentence-transformers"
    model = "synthetic-duplicates-bench"

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.topics = rng.normal(size=(500, DIM)).astype(np.float32)
        self.families = rng.normal(size=(2000, DIM)).astype(np.float32)
        self.long_families = rng.normal(size=(1000, DIM)).astype(np.float32)
        self.rng = np.random.default_rng(1)

    def dimension(self) -> int:
        return DIM

    def embed(self, texts: list[str]) -> np.ndarray:
        kinds = [t.split(" ", 2) for t in texts]
        out = np.empty((len(texts), DIM), np.float32)
        centres = {"topic": self.topics, "template": self.families, "long": self.long_families}
        noise = {"topic": 0.9, "template": 0.03, "long": 0.33}
        for i, (kind, number, _) in enumerate(kinds):
            centre = centres[kind.lower()]
            out[i] = centre[int(number.strip("!?.,")) % len(centre)]
        scale = np.array([noise[k.lower()] for k, _, _ in kinds], np.float32)
        out += self.rng.normal(size=out.shape).astype(np.float32) * scale[:, None]
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def prompts(rows: int) -> list[str]:
    rng = np.random.default_rng(2)
    texts = []
    for i in range(rows):
        roll = rng.random()
        if roll < 0.1 and texts:
            copy = texts[int(rng.integers(0, len(texts)))]
            texts.append(copy.upper() + "!" if rng.random() < 0.3 else copy)
        elif roll < 0.2:
            family = int(rng.integers(0, 2000))
            texts.append(f"template {family} summarise this customer review: item {i} broke")
        elif roll < 0.25:
            texts.append(f"long {int(rng.integers(0, 1000))} " + LONG_TEMPLATE.format(i))
        else:
            texts.append(f"topic {int(rng.integers(0, 500))} question number {i} about things")
    return texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lmsys-dup-bench-"))
    try:
        texts = prompts(args.rows)
        source = folder / "prompts.parquet"
        pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), source)
        with open_workspace(folder / "ws") as ws:
            load(ws, LoadStep(source=str(source), text_column="text", id_column="id"))
            embedder = SyntheticEmbedder()
            space = embed_queries(ws, EmbedStep(model=embedder.model), embedder=embedder).space_id
            run = cluster_space(ws, ClusterStep(n_clusters=args.k, run_id="bench"), space)
            wall, cpu = time.perf_counter(), time.process_time()
            counts = find_duplicates(ws, run.run_id, space)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            base_wall, base_cpu = time.perf_counter(), time.process_time()
            ws.con.execute("SELECT count(*) - count(DISTINCT query_text) FROM queries").fetchall()
            base_wall = time.perf_counter() - base_wall
            base_cpu = time.process_time() - base_cpu
            edits = _time_edits(ws, run.run_id)
            exports = _time_exports(ws, run.run_id, folder)
            wall_delete, cpu_delete = time.perf_counter(), time.process_time()
            delete_run(ws, run.run_id)
            edits.append(
                (
                    "deleting the run (members, copy marks, edits)",
                    time.perf_counter() - wall_delete,
                    time.process_time() - cpu_delete,
                )
            )
        print(f"# duplicates on {machine()}; {args.rows:,} prompts, k = {args.k}")
        print(
            f"marking: {wall:.1f} s (CPU {cpu:.1f} s): {counts['exact']:,} exact, "
            f"{counts['near']:,} near; DuckDB count(DISTINCT text) baseline {base_wall:.2f} s "
            f"(CPU {base_cpu:.2f} s); ratio {wall / base_wall:.1f}"
        )
        print(
            "exports to Parquet: "
            + ", ".join(f"{name} {wall:.2f} s (CPU {cpu:.2f} s)" for name, wall, cpu in exports)
        )
        print(
            "edits (each marks the copies of the queries that joined a cluster), then deleting: "
            + ", ".join(f"{name} {wall:.2f} s (CPU {cpu:.2f} s)" for name, wall, cpu in edits)
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _time_exports(ws, run_id: str, folder: Path) -> list[tuple[str, float, float]]:
    """The whole run to Parquet (the baseline), then a sample of 20 texts per cluster."""
    from lmsys_tui.engine.export import export_run

    timings = []
    for name, options in (
        ("whole run", {}),
        ("20 per cluster at random", {"per_cluster": 20}),
        ("20 per cluster nearest", {"per_cluster": 20, "pick": "nearest"}),
    ):
        wall, cpu = time.perf_counter(), time.process_time()
        export_run(ws, run_id, folder / "export.parquet", **options)
        timings.append((name, time.perf_counter() - wall, time.process_time() - cpu))
    return timings


def _time_edits(ws, run_id: str) -> list[tuple[str, float, float]]:
    """Wall and CPU time of a one-query move and of a merge of two clusters, as a user
    makes them in the TUI."""
    from lmsys_tui.engine.clustering.runs import mark_duplicates
    from lmsys_tui.engine.curation.edits import merge_clusters, move_queries
    from lmsys_tui.engine.progress import null_sink

    (query_id, cluster_id), (other,) = (
        ws.con.execute(
            "SELECT query_id, cluster_id FROM query_clusters WHERE run_id = ? "
            "ORDER BY query_id LIMIT 1",
            [run_id],
        ).fetchall()[0],
        ws.con.execute(
            "SELECT cluster_id FROM clusters WHERE run_id = ? AND cluster_id >= 0 "
            "ORDER BY cluster_id DESC LIMIT 1",
            [run_id],
        ).fetchall()[0],
    )
    space_id = ws.con.execute(
        "SELECT space_id FROM clustering_runs WHERE run_id = ?", [run_id]
    ).fetchall()[0][0]
    joined = np.array([query_id], np.int64)
    timings = []
    for name, edit in (
        ("one-query move", lambda: move_queries(ws, run_id, [query_id], other)),
        (
            "the move's copy marking alone",
            lambda: mark_duplicates(ws, run_id, space_id, null_sink, joined),
        ),
        ("merge of two clusters", lambda: merge_clusters(ws, run_id, [cluster_id, other])),
    ):
        wall, cpu = time.perf_counter(), time.process_time()
        edit()
        timings.append((name, time.perf_counter() - wall, time.process_time() - cpu))
    return timings


if __name__ == "__main__":
    main()
