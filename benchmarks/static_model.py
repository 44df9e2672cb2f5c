"""The static quick-look model against the bundled model: speed and cluster quality.

On the labelled Chatbot Arena prompts (../shared/data/arena_topics_dev.jsonl, both
labellings), in one run: embed with plain `SentenceTransformer.encode` (fp32, batch 32),
with lmsys-tui's bundled-model path, and with the static model (`[embed] model =
"static"`); wall and CPU time for each; then k-means (k = number of topics) on each set
of vectors and NMI against the topics. Also the one-time distillation.

    python benchmarks/static_model.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import labelled_rows, machine  # noqa: E402

from lmsys_tui.engine.clustering.algorithms import kmeans  # noqa: E402
from lmsys_tui.engine.embedding.embedders import (  # noqa: E402
    SentenceTransformerEmbedder,
    StaticEmbedder,
    distill_static_model,
    model_path,
    static_model_folder,
)


def timed(embed, texts: list[str]) -> tuple[np.ndarray, float, float]:
    embed(texts[:32])  # warm up alike
    started, cpu = time.perf_counter(), time.process_time()
    vectors = embed(texts)
    return vectors, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    from sentence_transformers import SentenceTransformer
    from sklearn.metrics import normalized_mutual_info_score

    labellings = {name: labelled_rows(name) for name in ("mpnet", "openai")}
    total = sum(map(len, labellings.values()))
    print(f"# static model on {machine()}; {total:,} labelled prompts (two labellings)")

    with tempfile.TemporaryDirectory() as folder:
        started, cpu = time.perf_counter(), time.process_time()
        distill_static_model(Path(folder) / "static")
        print(
            f"distillation (once): {time.perf_counter() - started:.0f} s wall, "
            f"{time.process_time() - cpu:.0f} s CPU"
        )
    if not (static_model_folder() / "model.safetensors").is_file():
        distill_static_model(static_model_folder())

    plain = SentenceTransformer(model_path("all-MiniLM-L6-v2"), device="cpu")
    bundled = SentenceTransformerEmbedder(device="cpu")
    static = StaticEmbedder()
    encoders = {
        "plain encode (fp32, batch 32)": lambda texts: plain.encode(
            texts, batch_size=32, normalize_embeddings=True
        ),
        "lmsys-tui, bundled model": bundled.embed,
        "lmsys-tui, static model": static.embed,
    }
    for labelling, chosen in labellings.items():
        texts = [row["conversation"][0]["content"] for row in chosen]
        topics = [row["topic_id"] for row in chosen]
        k = len(set(topics))
        print(f"\n## {labelling}: {len(texts):,} prompts, {k} topics")
        print("| encoder | prompts/s | wall | CPU | vs plain (wall, CPU) | k-means NMI |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        base = None
        for name, embed in encoders.items():
            vectors, wall, cpu = timed(embed, texts)
            labels, _, _ = kmeans(np.asarray(vectors, dtype=np.float32), k, seed=42, niter=20)
            nmi = normalized_mutual_info_score(topics, labels)
            base = base or (wall, cpu)
            print(
                f"| {name} | {len(texts) / wall:,.0f} | {wall:.2f} s | {cpu:.2f} s | "
                f"{base[0] / wall:.1f}x, {base[1] / cpu:.1f}x | {nmi:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
