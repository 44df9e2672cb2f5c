"""LLM summary throughput against a local OpenAI-compatible server with injected latency.

With concurrency c and latency L, throughput should approach min(c / L, rpm / 60)
clusters per second.

    python benchmarks/summarize.py [--clusters 48] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import machine  # noqa: E402

from lmsys_tui.engine.clustering.runs import cluster_space  # noqa: E402
from lmsys_tui.engine.embedding.embed import embed_queries  # noqa: E402
from lmsys_tui.engine.load.ingest import load  # noqa: E402
from lmsys_tui.engine.naming.summarize import summarize_run  # noqa: E402
from lmsys_tui.engine.specs import ClusterStep, EmbedStep, LoadStep, SummarizeStep  # noqa: E402
from lmsys_tui.engine.workspace import open_workspace  # noqa: E402
from tests.llm_server import ScriptedLLM  # noqa: E402


class TopicEmbedder:
    """One direction per topic number in the text: k-means finds exactly the topics."""

    provider = "sentence-transformers"

    def __init__(self, topics: int) -> None:
        self.model = f"topic-bench-{topics}"
        self.topics = topics

    def dimension(self) -> int:
        return self.topics

    def embed(self, texts):
        return np.eye(self.topics, dtype=np.float32)[[int(t.split()[1]) for t in texts]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=48)
    parser.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-local-benchmark")
    folder = Path(tempfile.mkdtemp(prefix="lmsys-bench-"))
    try:
        source = folder / "q.jsonl"
        with open(source, "w") as handle:
            for topic in range(args.clusters):
                for i in range(3):
                    handle.write(
                        json.dumps({"id": f"{topic}-{i}", "prompt": f"topic {topic} q{i}"})
                    )
                    handle.write("\n")
        print(f"# summarize on {machine()}; {args.clusters} clusters, latency {args.latency}s")
        with open_workspace(folder / "ws") as ws, ScriptedLLM(latency=args.latency) as llm:
            load(ws, LoadStep(source=str(source), text_column="prompt", id_column="id"))
            embedder = TopicEmbedder(args.clusters)
            space = embed_queries(ws, EmbedStep(model=embedder.model), embedder=embedder).space_id
            run = cluster_space(ws, ClusterStep(n_clusters=args.clusters), space).run_id
            for concurrency, rpm in [(1, None), (4, None), (16, None), (16, 600)]:
                step = SummarizeStep(
                    model="openai/bench",
                    api_base=llm.api_base,
                    alias=f"c{concurrency}-r{rpm}",
                    concurrency=concurrency,
                    rpm=rpm,
                )
                started = time.perf_counter()
                result = summarize_run(ws, step, run)
                rate = result.summarized / (time.perf_counter() - started)
                bound = concurrency / args.latency
                if rpm:
                    bound = min(bound, rpm / 60)
                print(
                    f"concurrency {concurrency:>2} rpm {rpm or '-':>4}: {rate:6.2f} clusters/s"
                    f"  (bound {bound:6.2f}, {rate / bound:.0%})",
                    flush=True,
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
